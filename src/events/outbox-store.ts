import { randomBytes } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { sql, type RawBuilder } from "kysely";
import type { Executor } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";

/** The event types of the contract. */
export const eventTypes = [
  "rotation.due",
  "rotation.completed",
  "rotation.failed",
  "rotation.revoked",
  "secret.created",
  "secret.updated",
  "secret.deleted",
  "secret.restored",
  "secret.expiring",
] as const;
export type EventType = (typeof eventTypes)[number] | "ping";

/** An event as written to the outbox; `data` must never hold a secret value. */
export interface OutboxEvent {
  tenantId: string;
  eventType: EventType;
  path?: string;
  policyId?: string;
  data: Record<string, unknown>;
  createdAt: Date;
}

/** A new event id (`evt_` + 128 random bits). */
export function newEventId(): string {
  return `evt_${randomBytes(16).toString("hex")}`;
}

/**
 * Appends events in the caller's transaction, so they exist if and only if the change commits.
 * `seq` is handed out at the insert, so within a tenant a smaller seq may commit after a larger
 * one. Watchers still never miss an event that commits late: they read only up to
 * `tenantEventHorizon`, which relies on every writer holding its tenant's writers lock from before
 * its rows get their seq until it ends. The lock is shared, so writers of a tenant never wait for
 * each other; it only shows readers which transactions may still commit events.
 *
 * One statement: the locks are taken by the insert's one-time filter, which PostgreSQL evaluates
 * before the first row leaves the scan, and so before any row draws its seq (a row's default is
 * computed as it is inserted). `test/watch/watch-commit-order.test.ts` checks that no seq is
 * drawn while the lock is awaited.
 */
export async function appendEvents(exec: Executor, events: OutboxEvent[]): Promise<string[]> {
  return appendEventsWith(exec, events);
}

/**
 * `appendEvents`, with another data-modifying statement (an audit INSERT) run in the same
 * statement as a `WITH` part: one round trip for both. The other part takes no lock and draws no
 * seq, so the writers lock is still held before any event row gets its seq.
 */
export async function appendEventsWith(exec: Executor, events: OutboxEvent[], alongside?: RawBuilder<unknown>): Promise<string[]> {
  if (events.length === 0) {
    if (alongside) await alongside.execute(exec);
    return [];
  }
  const ids = events.map(() => newEventId());
  const rows = events.map((e, i) => ({
    id: ids[i]!,
    tenant_id: e.tenantId,
    event_type: e.eventType,
    path: e.path,
    policy_id: e.policyId,
    data: e.data,
    created_at: e.createdAt.toISOString(),
  }));
  const lockNames = [...new Set(events.map((e) => writersLockName(e.tenantId)))];
  await sql`
    ${alongside ? sql`with alongside as (${alongside})` : sql``}
    insert into events (id, tenant_id, event_type, path, policy_id, data, created_at)
    select id, tenant_id, event_type, path, policy_id, data, created_at
    from json_to_recordset(${JSON.stringify(rows)}::json)
      as event(id text, tenant_id text, event_type text, path text, policy_id text, data jsonb, created_at timestamptz)
    where (select count(pg_advisory_xact_lock_shared(hashtextextended(name, 0))) from unnest(${lockNames}::text[]) as name) > 0`.execute(exec);
  return ids;
}

/** Reads a tenant's events in order (used by tests and by the delivery worker). */
export async function listEvents(exec: Executor, tenantId: string, afterSeq = 0) {
  return exec
    .selectFrom("events")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("seq", ">", afterSeq)
    .orderBy("seq")
    .execute();
}

/** An outbox row as a watcher sees it. */
export interface WatchedEventRow {
  seq: number;
  id: string;
  event_type: string;
  path: string | null;
  data: unknown;
  created_at: Date;
}

/**
 * A tenant's events of the given types with `afterSeq < seq <= upToSeq`, in seq order; `prefix`
 * filters paths. `upToSeq` must be a horizon (`tenantEventHorizon`): below it no event can still appear.
 */
export async function readTenantEvents(
  exec: Executor,
  q: { tenantId: string; afterSeq: number; upToSeq: number; types: readonly string[]; prefix?: string; limit: number },
): Promise<WatchedEventRow[]> {
  let query = exec
    .selectFrom("events")
    .select(["seq", "id", "event_type", "path", "data", "created_at"])
    .where("tenant_id", "=", q.tenantId)
    .where("seq", ">", q.afterSeq)
    .where("seq", "<=", q.upToSeq)
    .where("event_type", "in", [...q.types]);
  if (q.prefix) query = query.where(sql<boolean>`left(path, ${q.prefix.length}) = ${q.prefix}`);
  return query.orderBy("seq").limit(q.limit).execute() as Promise<WatchedEventRow[]>;
}

/** How long `tenantEventHorizon` waits for a tenant's writers in flight before it gives up. */
const writersWaitCapMs = 30_000;

/**
 * The seq up to which a tenant's events are settled: each event with a seq up to it has committed
 * (and is visible to the next read) or rolled back, so a watcher that has read that far and goes
 * on after it can never miss an event. `seq` is allocated out of commit order, so this is read as:
 * 1. the largest seq allocated so far by anyone, committed or not (the sequence is not transactional);
 * 2. the transactions that hold a tenant's writers lock right after that. A writer locks before
 *    its rows get their seq, so one with a seq up to the horizon has either finished by then or
 *    is in that list; a writer that locks later gets a larger seq;
 * 3. a wait until each listed transaction has committed or rolled back.
 * Call it on the database, outside a transaction (whose snapshot would not see those commits).
 * Fails `unavailable` when the writers are still open after 30 s.
 */
export async function tenantEventHorizon(exec: Executor, tenantId: string): Promise<number> {
  const horizon = await lastAllocatedEventSeq(exec);
  const writers = await writersInFlight(exec, tenantId);
  if (writers.length > 0) await waitUntilFinished(exec, tenantId, writers);
  return horizon;
}

/** The name of a tenant's writers lock (an advisory lock on its 64-bit hash). */
export function writersLockName(tenantId: string): string {
  return `scaivault.events:${tenantId}`;
}

/**
 * The largest seq handed out, including to transactions still open. `events_seq_seq`, the
 * identity sequence of `events.seq` (migration 0001), has CACHE 1, so a value is written to it as it is handed out;
 * before the first one (`is_called` false) its `last_value` is the first value to come.
 */
async function lastAllocatedEventSeq(exec: Executor): Promise<number> {
  const { rows } = await sql<{ last_value: number; is_called: boolean }>`select last_value, is_called from events_seq_seq`.execute(exec);
  const row = rows[0]!;
  return Number(row.last_value) - (row.is_called ? 0 : 1);
}

/**
 * The open transactions (virtual transaction ids) of other sessions holding a tenant's writers
 * lock. pg_locks shows a bigint advisory key as classid (high 32 bits) and objid (low 32 bits)
 * with objsubid 1; `<<` on bigint wraps, so the two give back the signed key. Always empty on the
 * embedded database: it has one session.
 */
async function writersInFlight(exec: Executor, tenantId: string): Promise<string[]> {
  const { rows } = await sql<{ virtualtransaction: string }>`
    select virtualtransaction from pg_locks
    where locktype = 'advisory' and granted and objsubid = 1
      and ((classid::bigint << 32) | objid::bigint) = hashtextextended(${writersLockName(tenantId)}, 0)
      and pid is distinct from pg_backend_pid()`.execute(exec);
  return rows.map((r) => r.virtualtransaction);
}

/** Polls (2 ms doubling to 50 ms) until none of `writers` holds the tenant's writers lock. */
async function waitUntilFinished(exec: Executor, tenantId: string, writers: string[]): Promise<void> {
  const deadline = performance.now() + writersWaitCapMs;
  for (let pauseMs = 2; writers.length > 0; pauseMs = Math.min(pauseMs * 2, 50)) {
    if (performance.now() >= deadline) {
      throw new ScaiVaultError("unavailable", `${writers.length} transactions writing this tenant's events are still open after ${writersWaitCapMs / 1000} s; try again`);
    }
    await delay(pauseMs);
    const open = new Set(await writersInFlight(exec, tenantId));
    writers = writers.filter((w) => open.has(w));
  }
}

/** The seq of one of a tenant's events, by id; undefined when there is no such event (never written, or another tenant's). */
export async function findTenantEventSeq(exec: Executor, tenantId: string, id: string): Promise<number | undefined> {
  const row = await exec.selectFrom("events").select("seq").where("tenant_id", "=", tenantId).where("id", "=", id).executeTakeFirst();
  return row ? Number(row.seq) : undefined;
}
