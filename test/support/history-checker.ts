// Checks a recorded history of a fault run (what the clients did and saw, and what the database
// holds afterwards) against ScaiVault's promises, Jepsen-style: the history is data, the checker
// a pure function, and every anomaly it finds is a line of text naming the operation.
import { createHash } from "node:crypto";

/** One REST call as a client saw it: when it began and ended (performance.now ms) and what it got. */
export interface CallRecord {
  kind: "write" | "read";
  replica: number;
  /** HTTP status, or "network" (no answer: the connection failed or was cut), or "timeout" (the client gave up). */
  status: number | "network" | "timeout";
  startedAt: number;
  endedAt: number;
  /** The replica it went to was killed (or down) while the call was open: a network error is expected then. */
  replicaDied: boolean;
}

/** A check-and-set write: `cas` is the version the writer last saw. */
export interface WriteRecord extends CallRecord {
  kind: "write";
  path: string;
  cas: number;
  digest: string;
  /** The version the answer gave (acknowledged writes only). */
  version?: number;
}

/** A read of the current version: `version` 0 for "not found". */
export interface ReadRecord extends CallRecord {
  kind: "read";
  path: string;
  version?: number;
  digest?: string;
}

/** A version as the database holds it after the run, read back through the service. */
export interface StoredVersion {
  path: string;
  version: number;
  /** undefined when the version is missing (a gap). */
  digest?: string;
}

/** A change as the outbox holds it, in the tenant's event order. */
export interface CommittedEvent {
  id: string;
  eventType: string;
  path: string;
  version: number;
}

/** What one watcher received over all its streams (resumes included). */
export interface WatchLog {
  name: string;
  events: { event_id: string; event_type: string; path: string; version: number }[];
}

/** One webhook delivery as the receiver got it. */
export interface DeliveryRecord {
  headerId: string;
  bodyId: string;
  eventType: string;
  path: string;
  version: number;
}

export interface History {
  writes: WriteRecord[];
  reads: ReadRecord[];
  stored: StoredVersion[];
  events: CommittedEvent[];
  watchers: WatchLog[];
  deliveries: DeliveryRecord[];
  /** Event ids not delivered yet whose deliveries are still queued in the database (claimed or due). */
  queuedDeliveries: Set<string>;
  /** The longest a call may take (the documented bound plus the test machine's slack), ms. */
  boundMs: number;
}

/** The digest a writer records and a reader compares: SHA-256 of the value's JSON with sorted keys. */
export function digestOf(data: Record<string, unknown>): string {
  const sorted = Object.fromEntries(Object.entries(data).sort(([a], [b]) => (a < b ? -1 : 1)));
  return createHash("sha256").update(JSON.stringify(sorted)).digest("hex").slice(0, 24);
}

const keyOf = (path: string, version: number) => `${path}@${version}`;

/** Every anomaly of the history; an empty list is a clean run. */
export function checkHistory(h: History): string[] {
  return [...checkWrites(h), ...checkReads(h), ...checkWatchers(h), ...checkDeliveries(h), ...checkCalls(h)];
}

/** No lost acknowledged write, no duplicate or gap, nothing stored that no writer could have written. */
export function checkWrites(h: Pick<History, "writes" | "stored">): string[] {
  const anomalies: string[] = [];
  const stored = new Map(h.stored.map((s) => [keyOf(s.path, s.version), s]));
  const acked = new Map<string, WriteRecord>();
  for (const w of h.writes) {
    if (w.version === undefined) continue;
    const key = keyOf(w.path, w.version);
    if (acked.has(key)) anomalies.push(`duplicate version: ${key} acknowledged twice`);
    acked.set(key, w);
    if (w.version !== w.cas + 1) anomalies.push(`check-and-set broken: ${key} acknowledged for cas ${w.cas}`);
    const s = stored.get(key);
    if (!s?.digest) anomalies.push(`lost write: ${key} acknowledged at ${w.endedAt.toFixed(0)} ms, not stored`);
    else if (s.digest !== w.digest) anomalies.push(`lost write: ${key} acknowledged with another value than the one stored`);
  }
  // What may be stored at v: an acknowledged write, or one whose answer was lost, with cas v - 1.
  const possible = new Map<string, Set<string>>();
  for (const w of h.writes) {
    if (w.version === undefined && w.status !== 503 && w.status !== "network" && w.status !== "timeout") continue;
    const key = keyOf(w.path, w.cas + 1);
    if (!possible.has(key)) possible.set(key, new Set());
    possible.get(key)!.add(w.digest);
  }
  for (const s of h.stored) {
    const key = keyOf(s.path, s.version);
    if (!s.digest) anomalies.push(`gap: ${key} is missing`);
    else if (!possible.get(key)?.has(s.digest)) anomalies.push(`unexpected value: ${key} holds a value no writer wrote for that version (a refused write committed?)`);
  }
  return anomalies;
}

/** No read older than a write acknowledged before the read began, on whichever replica; every value read is the one stored. */
export function checkReads(h: Pick<History, "writes" | "reads" | "stored">): string[] {
  const anomalies: string[] = [];
  const stored = new Map(h.stored.map((s) => [keyOf(s.path, s.version), s.digest]));
  const acksByPath = new Map<string, WriteRecord[]>();
  for (const w of h.writes) {
    if (w.version === undefined) continue;
    if (!acksByPath.has(w.path)) acksByPath.set(w.path, []);
    acksByPath.get(w.path)!.push(w);
  }
  for (const acks of acksByPath.values()) acks.sort((a, b) => a.endedAt - b.endedAt);
  for (const r of h.reads) {
    if (r.version === undefined) continue;
    let required = 0;
    let by: WriteRecord | undefined;
    for (const a of acksByPath.get(r.path) ?? []) {
      if (a.endedAt >= r.startedAt) break;
      if (a.version! > required) {
        required = a.version!;
        by = a;
      }
    }
    if (r.version < required) {
      anomalies.push(
        `stale read: ${r.path} read v${r.version} from replica ${r.replica}, but v${required} was acknowledged by replica ${by!.replica} ${(r.startedAt - by!.endedAt).toFixed(1)} ms before the read began`,
      );
    }
    if (r.version > 0 && r.digest !== stored.get(keyOf(r.path, r.version))) anomalies.push(`dirty read: ${keyOf(r.path, r.version)} read with a value not stored for it`);
  }
  return anomalies;
}

/** Every watcher saw each committed change exactly once, in the outbox's order, across its resumes. */
export function checkWatchers(h: Pick<History, "events" | "watchers">): string[] {
  const anomalies: string[] = [];
  const expected = h.events.map((e) => e.id);
  const byId = new Map(h.events.map((e) => [e.id, e]));
  for (const w of h.watchers) {
    const seen = w.events.map((e) => e.event_id);
    const distinct = new Set(seen);
    if (distinct.size !== seen.length) anomalies.push(`watcher ${w.name}: ${seen.length - distinct.size} changes received more than once`);
    const missing = expected.filter((id) => !distinct.has(id));
    if (missing.length > 0) anomalies.push(`watcher ${w.name}: ${missing.length} committed changes never received (first ${missing[0]})`);
    const unknown = seen.filter((id) => !byId.has(id));
    if (unknown.length > 0) anomalies.push(`watcher ${w.name}: ${unknown.length} changes received that were never committed`);
    // Order over first receipts (a repeat is reported above, not again as disorder).
    const inOrder = [...distinct].filter((id) => byId.has(id));
    const expectedSeen = expected.filter((id) => distinct.has(id));
    const firstOff = inOrder.findIndex((id, i) => id !== expectedSeen[i]);
    if (firstOff >= 0) anomalies.push(`watcher ${w.name}: out of order from its change #${firstOff + 1}`);
    for (const e of w.events) {
      const c = byId.get(e.event_id);
      if (c && (c.path !== e.path || c.version !== e.version || c.eventType !== e.event_type)) anomalies.push(`watcher ${w.name}: ${e.event_id} described as ${e.path}@${e.version}, committed as ${c.path}@${c.version}`);
    }
  }
  return anomalies;
}

/** Every committed change delivered at least once (or still queued for delivery), under one stable id. */
export function checkDeliveries(h: Pick<History, "events" | "deliveries" | "queuedDeliveries">): string[] {
  const anomalies: string[] = [];
  const byId = new Map(h.events.map((e) => [e.id, e]));
  const delivered = new Set<string>();
  for (const d of h.deliveries) {
    if (d.headerId !== d.bodyId) anomalies.push(`webhook: webhook-id ${d.headerId} differs from the body's id ${d.bodyId}`);
    const c = byId.get(d.bodyId);
    if (!c) anomalies.push(`webhook: ${d.bodyId} delivered but never committed`);
    else if (c.path !== d.path || c.version !== d.version || c.eventType !== d.eventType) anomalies.push(`webhook: ${d.bodyId} delivered as ${d.path}@${d.version}, committed as ${c.path}@${c.version}`);
    delivered.add(d.bodyId);
  }
  const lost = h.events.filter((e) => !delivered.has(e.id) && !h.queuedDeliveries.has(e.id));
  if (lost.length > 0) anomalies.push(`webhook: ${lost.length} committed changes neither delivered nor queued (first ${lost[0].id})`);
  return anomalies;
}

/** Every call answered within the bound, with an answer the contract allows. */
export function checkCalls(h: Pick<History, "writes" | "reads" | "boundMs">): string[] {
  const anomalies: string[] = [];
  const allowed = new Set<CallRecord["status"]>([200, 201, 404, 409, 503]);
  for (const c of [...h.writes, ...h.reads]) {
    const took = c.endedAt - c.startedAt;
    const what = `${c.kind} on replica ${c.replica} at ${c.startedAt.toFixed(0)} ms`;
    if (took > h.boundMs) anomalies.push(`slow: ${what} took ${took.toFixed(0)} ms (${c.status})`);
    if (c.status === "network" ? !c.replicaDied : !allowed.has(c.status)) anomalies.push(`bad answer: ${what}: ${c.status}`);
  }
  return anomalies;
}
