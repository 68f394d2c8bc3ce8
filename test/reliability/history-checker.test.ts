// The fault run's checker finds each kind of anomaly it is there to find, in small hand-made
// histories (so a clean fault run means something), and none in a clean one.
import { describe, expect, it } from "vitest";
import { checkHistory, digestOf, type History, type ReadRecord, type WriteRecord } from "../support/history-checker.js";

const d1 = digestOf({ n: "1" });
const d2 = digestOf({ n: "2" });
const write = (over: Partial<WriteRecord>): WriteRecord => ({ kind: "write", replica: 0, status: 201, startedAt: 0, endedAt: 10, replicaDied: false, path: "p", cas: 0, digest: d1, version: 1, ...over });
const read = (over: Partial<ReadRecord>): ReadRecord => ({ kind: "read", replica: 1, status: 200, startedAt: 20, endedAt: 25, replicaDied: false, path: "p", version: 1, digest: d1, ...over });
const event = (id: string, version: number) => ({ id, eventType: version === 1 ? "secret.created" : "secret.updated", path: "p", version });
const seen = (id: string, version: number) => ({ event_id: id, event_type: version === 1 ? "secret.created" : "secret.updated", path: "p", version });

function clean(): History {
  return {
    writes: [write({}), write({ cas: 1, digest: d2, version: 2, status: 200, startedAt: 30, endedAt: 40 })],
    reads: [read({}), read({ startedAt: 50, endedAt: 55, version: 2, digest: d2 })],
    stored: [
      { path: "p", version: 1, digest: d1 },
      { path: "p", version: 2, digest: d2 },
    ],
    events: [event("e1", 1), event("e2", 2)],
    watchers: [{ name: "w", events: [seen("e1", 1), seen("e2", 2)] }],
    deliveries: [
      { headerId: "e1", bodyId: "e1", eventType: "secret.created", path: "p", version: 1 },
      { headerId: "e2", bodyId: "e2", eventType: "secret.updated", path: "p", version: 2 },
      { headerId: "e2", bodyId: "e2", eventType: "secret.updated", path: "p", version: 2 },
    ],
    queuedDeliveries: new Set(),
    boundMs: 1_000,
  };
}

describe("the fault run's history checker", () => {
  it("finds nothing in a clean history (a redelivered webhook included)", () => {
    expect(checkHistory(clean())).toEqual([]);
  });

  it("finds a lost acknowledged write, a gap and a value nobody wrote", () => {
    const h = clean();
    h.stored = [{ path: "p", version: 1, digest: d1 }, { path: "p", version: 2 }, { path: "p", version: 3, digest: "other" }];
    expect(checkHistory(h)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^lost write: p@2/), expect.stringMatching(/^gap: p@2/), expect.stringMatching(/^unexpected value: p@3/)]),
    );
  });

  it("accepts a write whose answer was lost, and refuses one that was refused", () => {
    const h = clean();
    h.writes.push(write({ cas: 2, digest: "x", version: undefined, status: "network", replicaDied: true, startedAt: 60, endedAt: 61 }));
    h.stored.push({ path: "p", version: 3, digest: "x" });
    expect(checkHistory(h).filter((a) => !a.startsWith("watcher") && !a.startsWith("webhook"))).toEqual([]);
    h.writes.at(-1)!.status = 409;
    expect(checkHistory(h)).toContain("unexpected value: p@3 holds a value no writer wrote for that version (a refused write committed?)");
  });

  it("finds a duplicate version and a broken check-and-set", () => {
    const h = clean();
    h.writes.push(write({ cas: 0, digest: d2, version: 2, startedAt: 30, endedAt: 41 }));
    const found = checkHistory(h);
    expect(found).toContain("duplicate version: p@2 acknowledged twice");
    expect(found).toContain("check-and-set broken: p@2 acknowledged for cas 0");
  });

  it("finds a read older than a write acknowledged before it began, and a value read that is not the stored one", () => {
    const h = clean();
    h.reads.push(read({ startedAt: 41, endedAt: 42, version: 1, replica: 2 }));
    h.reads.push(read({ startedAt: 60, endedAt: 61, version: 2, digest: d1 }));
    const found = checkHistory(h);
    expect(found.some((a) => a.startsWith("stale read: p read v1 from replica 2, but v2 was acknowledged"))).toBe(true);
    expect(found).toContain("dirty read: p@2 read with a value not stored for it");
    // A read that began before the acknowledgement may return either version.
    h.reads.splice(2);
    h.reads.push(read({ startedAt: 39, endedAt: 45, version: 1 }));
    expect(checkHistory(h)).toEqual([]);
  });

  it("finds a watcher that missed, repeated, reordered or invented a change", () => {
    const h = clean();
    h.watchers = [
      { name: "missed", events: [seen("e1", 1)] },
      { name: "twice", events: [seen("e1", 1), seen("e1", 1), seen("e2", 2)] },
      { name: "reordered", events: [seen("e2", 2), seen("e1", 1)] },
      { name: "invented", events: [seen("e1", 1), seen("e2", 2), seen("e9", 3)] },
    ];
    expect(checkHistory(h)).toEqual([
      "watcher missed: 1 committed changes never received (first e2)",
      "watcher twice: 1 changes received more than once",
      "watcher reordered: out of order from its change #1",
      "watcher invented: 1 changes received that were never committed",
    ]);
  });

  it("finds an undelivered webhook unless it is still queued, and an unstable id", () => {
    const h = clean();
    h.deliveries = [h.deliveries[0], { headerId: "e2", bodyId: "e2", eventType: "secret.updated", path: "p", version: 1 }];
    h.events.push(event("e3", 3));
    h.watchers[0].events.push(seen("e3", 3));
    h.stored.push({ path: "p", version: 3, digest: "z" });
    h.writes.push(write({ cas: 2, digest: "z", version: 3, status: 200, startedAt: 60, endedAt: 70 }));
    expect(checkHistory(h)).toEqual(["webhook: e2 delivered as p@1, committed as p@2", "webhook: 1 committed changes neither delivered nor queued (first e3)"]);
    h.queuedDeliveries.add("e3");
    expect(checkHistory(h)).toEqual(["webhook: e2 delivered as p@1, committed as p@2"]);
  });

  it("finds a call past its bound, a 500, and a network error on a replica that did not die", () => {
    const h = clean();
    h.reads.push(read({ startedAt: 100, endedAt: 1_200 }), read({ status: 500, version: undefined }), read({ status: "network", version: undefined }));
    h.reads.push(read({ status: "network", version: undefined, replicaDied: true }));
    const found = checkHistory(h);
    expect(found.filter((a) => a.startsWith("slow:"))).toHaveLength(1);
    expect(found.filter((a) => a.startsWith("bad answer:"))).toHaveLength(2);
  });
});
