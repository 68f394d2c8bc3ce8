// Events get their seq when inserted but become visible when they commit, in any order. A watcher
// must never move past a seq whose transaction is still open (it would skip that event once it
// commits), and writers of one tenant must not wait for each other to get there. The open
// transactions here run on connections of their own, which the embedded database (one session)
// cannot have, so this file runs on PostgreSQL only (and fails, not skips, when DATABASE_URL is
// set but unusable).
import { sql } from "kysely";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { connectPostgres, type DatabaseHandle, type Db } from "../../src/db/database.js";
import { auditInsert } from "../../src/audit/audit-store.js";
import { appendEvents, appendEventsWith, writersLockName } from "../../src/events/outbox-store.js";
import { testDatabaseKind } from "../support/database.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { grpcWatch, sseWatch, type Watcher } from "../support/watchers.js";

/** How long a watcher gets to (wrongly) show an event while an earlier seq is uncommitted. */
const quietMs = 300;

/** Transactions a failed test left open, rolled back after it so they hold no connection or lock. */
const leftOpen = new Set<() => Promise<void>>();

/** A transaction that appended one `secret.created` event (its seq allocated) and stays open. */
async function holdEvent(db: Db, tenantId: string, path: string) {
  const tx = await db.startTransaction().execute();
  const end = (how: "commit" | "rollback") => {
    leftOpen.delete(rollback);
    return tx[how]().execute();
  };
  const rollback = () => end("rollback");
  leftOpen.add(rollback);
  const [id] = await appendEvents(tx, [{ tenantId, eventType: "secret.created", path, data: { version: 1 }, createdAt: new Date() }]);
  const { seq } = await tx.selectFrom("events").select("seq").where("id", "=", id!).executeTakeFirstOrThrow();
  return { id: id!, seq: Number(seq), commit: () => end("commit"), rollback };
}

/** Fails instead of hanging when `work` waits for a lock it should not need. */
function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} still waiting after ${ms} ms`)), ms)));
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(testDatabaseKind !== "postgres")("watch order while events commit out of seq order (PostgreSQL)", () => {
  let v: TestVault;
  let writers: DatabaseHandle;
  const open: Watcher[] = [];
  const track = <W extends Watcher>(w: W) => (open.push(w), w);
  const tokens = new Map<string, string>();
  const put = (tenantId: string, path: string) => v.rest("PUT", `/v1/secrets/${path}`, { token: tokens.get(tenantId), body: { data: { password: "x" } } });
  const seqOf = async (id: string) => Number((await writers.db.selectFrom("events").select("seq").where("id", "=", id).executeTakeFirstOrThrow()).seq);
  const lastEventId = async (tenantId: string) => (await writers.db.selectFrom("events").select("id").where("tenant_id", "=", tenantId).orderBy("seq", "desc").executeTakeFirstOrThrow()).id;

  beforeAll(async () => {
    v = await startTestVault();
    writers = connectPostgres(v.databaseUrl!, { poolSize: 4 });
    for (const tenantId of ["t1", "t2", "t3"]) tokens.set(tenantId, await v.token({ tenantId, scopes: ["secrets:read", "secrets:write"] }));
  }, 180_000);
  afterEach(async () => {
    await Promise.allSettled([...leftOpen].map((rollback) => rollback()));
  });
  afterAll(async () => {
    for (const w of open) w.close();
    await writers?.close();
    await v?.close();
  }, 60_000);

  it("a live watcher and a resume from before the open event see neither event until it commits, then both in seq order", async () => {
    expect((await put("t1", "order/base")).status).toBe(201);
    const before = await lastEventId("t1");
    const live = track(sseWatch(v.baseUrl, tokens.get("t1"), { prefix: "order/" }));
    await live.live;

    const held = await holdEvent(writers.db, "t1", "order/held");
    // The service's write does not wait for the open one, and commits with a larger seq.
    expect((await within(5_000, "a write while another transaction of the tenant is open", put("t1", "order/after"))).status).toBe(201);
    const after = await lastEventId("t1");
    expect(await seqOf(after)).toBeGreaterThan(held.seq);
    const resumed = track(grpcWatch(v.port, tokens.get("t1")!, { prefix: "order/", cursor: before }));
    await resumed.live;

    await pause(quietMs);
    // Had either shown order/after, its cursor would be past order/held, which a resume then skips.
    expect(live.events).toEqual([]);
    expect(resumed.events).toEqual([]);

    await held.commit();
    for (const w of [live, resumed]) expect((await w.waitFor(2)).map((e) => e.event_id)).toEqual([held.id, after]);

    // A resume after order/after (the cursor a client now holds) starts past both, with nothing left behind.
    const fromAfter = track(sseWatch(v.baseUrl, tokens.get("t1"), { prefix: "order/", lastEventId: after }));
    await fromAfter.live;
    expect((await put("t1", "order/marker")).status).toBe(201);
    expect((await fromAfter.waitFor(1)).map((e) => e.path)).toEqual(["order/marker"]);
    for (const w of [live, resumed]) expect((await w.waitFor(3)).map((e) => e.path)).toEqual(["order/held", "order/after", "order/marker"]);
  }, 60_000);

  it("a stream that opens while an event is uncommitted goes live only past it, and a resume from before it waits for it", async () => {
    // No watcher of t2 yet: these streams start the replica's feed of the tenant.
    expect((await put("t2", "order/base")).status).toBe(201);
    const before = await lastEventId("t2");
    const held = await holdEvent(writers.db, "t2", "order/held");
    expect((await within(5_000, "a write while another transaction of the tenant is open", put("t2", "order/after"))).status).toBe(201);
    const after = await lastEventId("t2");

    const fresh = track(grpcWatch(v.port, tokens.get("t2")!, { prefix: "order/" }));
    const resumed = track(sseWatch(v.baseUrl, tokens.get("t2"), { prefix: "order/", lastEventId: before }));
    let committed = false;
    let liveWhileOpen = false;
    void fresh.live.then(() => (liveWhileOpen ||= !committed));
    await pause(quietMs);
    // Live at order/after would promise every later change, yet order/held commits later with a smaller seq.
    expect(liveWhileOpen).toBe(false);
    expect(resumed.events).toEqual([]);

    committed = true;
    await held.commit();
    await fresh.live;
    expect((await resumed.waitFor(2)).map((e) => e.event_id)).toEqual([held.id, after]);
    expect((await put("t2", "order/marker")).status).toBe(201);
    expect((await fresh.waitFor(1)).map((e) => e.path)).toEqual(["order/marker"]);
    expect((await resumed.waitFor(3)).map((e) => e.path)).toEqual(["order/held", "order/after", "order/marker"]);
  }, 60_000);

  it("an open event that rolls back holds back the later ones only until it ends", async () => {
    const live = track(grpcWatch(v.port, tokens.get("t1")!, { prefix: "rollback/" }));
    await live.live;
    const held = await holdEvent(writers.db, "t1", "rollback/held");
    expect((await within(5_000, "a write while another transaction of the tenant is open", put("t1", "rollback/after"))).status).toBe(201);
    await pause(quietMs);
    expect(live.events).toEqual([]);
    await held.rollback();
    expect((await live.waitFor(1)).map((e) => e.path)).toEqual(["rollback/after"]);
  }, 60_000);

  it("two open transactions of one tenant each append an event: writers do not serialize", async () => {
    const first = await holdEvent(writers.db, "t3", "parallel/a");
    const second = await within(5_000, "a second transaction appending events of the same tenant", holdEvent(writers.db, "t3", "parallel/b"));
    expect(second.seq).toBeGreaterThan(first.seq);
    await Promise.all([first.rollback(), second.rollback()]);
  }, 60_000);

  it.each([
    ["alone", "t4"],
    ["with the call's audit entry in the same statement (recordChange)", "t5"],
  ])("a writer holds its tenant's writers lock before any of its events draws a seq: events %s", async (how, tenant) => {
    // A seq drawn before the lock is held is invisible to the horizon's pg_locks check: a watcher
    // could move past it while its transaction is still open. Hold the lock exclusively so the
    // writer has to wait for it, and see that no seq was handed out meanwhile.
    const lastSeq = async () => {
      const { rows } = await sql<{ last_value: string; is_called: boolean }>`select last_value, is_called from events_seq_seq`.execute(writers.db);
      return Number(rows[0]!.last_value) - (rows[0]!.is_called ? 0 : 1);
    };
    const blocker = await writers.db.startTransaction().execute();
    leftOpen.add(() => blocker.rollback().execute());
    await sql`select pg_advisory_xact_lock(hashtextextended(${writersLockName(tenant)}, 0))`.execute(blocker);
    const before = await lastSeq();
    let appended = false;
    const events = [{ tenantId: tenant, eventType: "secret.created" as const, path: "locked/first", data: { version: 1 }, createdAt: new Date() }];
    const audit = auditInsert([{ time: new Date(), requestId: "req-t5", actor: "test", actingTenant: tenant, targetTenant: tenant, action: "PutSecret", path: "locked/first", version: 1, outcome: "allowed" }]);
    const appending = (how === "alone" ? appendEvents(writers.db, events) : appendEventsWith(writers.db, events, audit)).then(() => (appended = true));
    await pause(quietMs);
    expect(appended).toBe(false);
    expect(await lastSeq()).toBe(before);
    await blocker.rollback().execute();
    leftOpen.clear();
    await within(5_000, "the writer once the lock is free", appending);
    expect(await lastSeq()).toBeGreaterThan(before);
    if (how !== "alone") {
      const entries = await writers.db.selectFrom("audit_events").select(["path", "version"]).where("request_id", "=", "req-t5").execute();
      expect(entries).toEqual([{ path: "locked/first", version: 1 }]);
    }
  }, 60_000);

  it("the events' seq sequence hands out one value at a time (CACHE 1), as the watch horizon requires", async () => {
    const { rows } = await sql<{ seqcache: number }>`select seqcache from pg_sequence where seqrelid = 'events_seq_seq'::regclass`.execute(writers.db);
    expect(rows).toEqual([{ seqcache: 1 }]);
  }, 60_000);
});
