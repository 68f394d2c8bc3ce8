// WatchSecrets: a caller's stream of change events. Replays from a cursor through the outbox, then
// goes on live from this replica's hub; ends when the token expires, the client leaves or the
// replica drains. Events carry paths and versions, never values.
import { auditAllowed } from "../audit/call-audit.js";
import type { CallContext } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import type { Db } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import { findTenantEventSeq, readTenantEvents, type WatchedEventRow } from "../events/outbox-store.js";
import { watchedEventTypes, type WatchHub } from "./watch-hub.js";

/** One message of the stream: a change, or a heartbeat (no event id). */
export interface WatchEvent {
  eventId: string;
  eventType: string;
  path: string;
  version: number;
  stage: string;
  createdAt: Date;
}

export interface WatchServiceDeps {
  db: Db;
  clock: Clock;
  hub: WatchHub;
  /** Streams one tenant may hold open on this replica (SCAIVAULT_WATCH_MAX_STREAMS). */
  maxStreamsPerTenant: number;
  /** Idle time after which a heartbeat is sent (SCAIVAULT_WATCH_HEARTBEAT). */
  heartbeatMs: number;
}

const replayPage = 500;
const maxTimerMs = 2 ** 31 - 1;
const prefixPattern = /^[A-Za-z0-9._/-]{0,512}$/;

/** The event types that make a version current (the stage today's versions have). */
const makesCurrent = new Set(["secret.created", "secret.updated", "secret.restored", "rotation.completed"]);

/** The stream's form of an outbox row. */
export function watchEventOf(row: WatchedEventRow): WatchEvent {
  const data = (typeof row.data === "string" ? JSON.parse(row.data) : (row.data ?? {})) as Record<string, unknown>;
  const version = typeof data.new_version === "number" ? data.new_version : typeof data.version === "number" ? data.version : 0;
  const stage = typeof data.stage === "string" ? data.stage : makesCurrent.has(row.event_type) ? "current" : "";
  return { eventId: row.id, eventType: row.event_type, path: row.path ?? "", version, stage, createdAt: row.created_at };
}

export function createWatchService(deps: WatchServiceDeps) {
  const { db, clock, hub } = deps;
  const openStreams = new Map<string, number>();

  /** Streams the tenant's changes under `prefix`, after `cursor` when given; ends on `signal`. */
  async function* watch(call: CallContext, input: { prefix: string; cursor?: string }, signal: AbortSignal): AsyncGenerator<WatchEvent> {
    const prefix = input.prefix;
    if (!prefixPattern.test(prefix)) throw new ScaiVaultError("invalid_request", "prefix must be at most 512 characters of A-Z, a-z, 0-9, '.', '_', '-' and '/'");
    const tenantId = call.tenantId;
    const expiresAt = call.principal.expiresAt;
    if (expiresAt && expiresAt.getTime() <= clock.now().getTime()) throw tokenExpired();
    let cursorSeq: number | undefined;
    if (input.cursor) {
      cursorSeq = await findTenantEventSeq(db, tenantId, input.cursor);
      if (cursorSeq === undefined) throw new ScaiVaultError("invalid_request", "cursor is not an event id of this tenant; watch again without a cursor and reload what you read");
    }
    const open = openStreams.get(tenantId) ?? 0;
    if (open >= deps.maxStreamsPerTenant) throw new ScaiVaultError("rate_limited", `this tenant already has ${open} watch streams open on this replica`);
    openStreams.set(tenantId, open + 1);

    const queue = createWakeQueue<WatchedEventRow>();
    const onAbort = () => queue.end();
    signal.addEventListener("abort", onAbort, { once: true });
    let expiry: NodeJS.Timeout | undefined;
    // Timers hold at most about 24.8 days; a longer-lived token is checked again when one fires.
    const armExpiry = () => {
      const left = expiresAt!.getTime() - clock.now().getTime();
      if (left <= 0) return queue.fail(tokenExpired());
      expiry = setTimeout(armExpiry, Math.min(left, maxTimerMs));
    };
    if (expiresAt) armExpiry();
    let subscription: Awaited<ReturnType<WatchHub["subscribe"]>> | undefined;
    try {
      subscription = await hub.subscribe(tenantId, { deliver: (rows) => queue.push(rows), close: () => queue.end() });
      await auditAllowed(db, clock, call, { path: prefix || undefined });
      // The first message says the stream is live: every change from here on will arrive.
      yield heartbeat();
      // startSeq is the hub's event horizon: everything up to it is in the table (nothing below it
      // can still commit), everything after it comes through the hub.
      const upToSeq = subscription.startSeq;
      let delivered = cursorSeq ?? upToSeq;
      while (cursorSeq !== undefined && delivered < upToSeq) {
        const rows = await readTenantEvents(db, { tenantId, afterSeq: delivered, upToSeq, types: watchedEventTypes, prefix, limit: replayPage });
        for (const row of rows) yield watchEventOf(row);
        if (rows.length < replayPage) break;
        delivered = rows[rows.length - 1]!.seq;
      }
      delivered = Math.max(delivered, subscription.startSeq);
      for (;;) {
        const next = await queue.next(deps.heartbeatMs);
        if (next === "ended") return;
        if (next === "idle") {
          yield heartbeat();
          continue;
        }
        for (const row of next) {
          if (row.seq <= delivered) continue;
          delivered = row.seq;
          if (prefix && !(row.path ?? "").startsWith(prefix)) continue;
          yield watchEventOf(row);
        }
      }
    } finally {
      clearTimeout(expiry);
      signal.removeEventListener("abort", onAbort);
      subscription?.unsubscribe();
      const left = (openStreams.get(tenantId) ?? 1) - 1;
      if (left > 0) openStreams.set(tenantId, left);
      else openStreams.delete(tenantId);
    }
  }

  function heartbeat(): WatchEvent {
    return { eventId: "", eventType: "heartbeat", path: "", version: 0, stage: "", createdAt: clock.now() };
  }

  return { watch };
}

export type WatchService = ReturnType<typeof createWatchService>;

function tokenExpired() {
  return new ScaiVaultError("unauthenticated", "the token expired; watch again with a fresh token and the last event id as cursor");
}

/**
 * A queue between the hub (push) and one stream (pull): `next` waits for a batch, the end, a
 * failure, or `idleMs` without anything (a heartbeat is due).
 */
function createWakeQueue<T>() {
  const batches: T[][] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  return {
    push(rows: T[]) {
      batches.push(rows);
      notify();
    },
    end() {
      ended = true;
      notify();
    },
    fail(err: Error) {
      failure = err;
      notify();
    },
    async next(idleMs: number): Promise<T[] | "ended" | "idle"> {
      if (failure) throw failure;
      if (batches.length > 0) return batches.splice(0, batches.length).flat();
      if (ended) return "ended";
      let timer: NodeJS.Timeout | undefined;
      const woken = await new Promise<boolean>((resolve) => {
        wake = () => resolve(true);
        timer = setTimeout(() => resolve(false), idleMs);
      });
      clearTimeout(timer);
      wake = undefined;
      if (failure) throw failure;
      if (batches.length > 0) return batches.splice(0, batches.length).flat();
      if (ended) return "ended";
      return woken ? this.next(idleMs) : "idle";
    },
  };
}
