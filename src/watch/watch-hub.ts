// One per replica: turns the outbox's `scaivault_events` notices into per-tenant batches of new
// events for the watchers on this replica. A notice only names a tenant; the hub then reads that
// tenant's events after the last seq it saw, once for all its watchers, so 1,000 watchers of one
// tenant cost one query per change, not 1,000. It reads only up to the tenant's event horizon,
// so it never moves past an event that has its seq but has not committed yet.
import type { Db, Listen } from "../db/database.js";
import { readTenantEvents, tenantEventHorizon, type WatchedEventRow } from "../events/outbox-store.js";
import type { Logger } from "../log.js";

/** The channel the outbox trigger notifies (migration 0040), with the tenant id as payload. */
export const eventChannel = "scaivault_events";

/** The outbox event types a watch stream carries: the changes of a secret and its versions. */
export const watchedEventTypes = ["secret.created", "secret.updated", "secret.deleted", "secret.restored", "rotation.completed", "rotation.revoked"] as const;

/** A watcher's end of the hub: new events in seq order, and the end of the hub. */
export interface HubSubscriber {
  deliver(rows: WatchedEventRow[]): void;
  /** The hub is closing (the replica drains): the stream should end so the client moves on. */
  close(): void;
}

export interface HubSubscription {
  /** Every event with a larger seq reaches the subscriber; every one up to it has committed (or rolled back) already. */
  startSeq: number;
  unsubscribe(): void;
}

interface TenantFeed {
  /** Everything up to here was delivered, and no event up to here can still appear (a horizon, or below one). */
  lastSeq: number;
  subscribers: Set<HubSubscriber>;
  ready: Promise<void>;
  reading: Promise<void> | undefined;
  again: boolean;
}

const pageSize = 500;
/** When a read gave up on writers still in flight, it runs again after this long (a rollback notifies no one). */
const retryMs = 1_000;

/** Creates the hub; `start` begins listening, `close` ends every subscriber and stops listening. */
export function createWatchHub(deps: { db: Db; listen: Listen; logger: Logger }) {
  const { db, logger } = deps;
  const feeds = new Map<string, TenantFeed>();
  let stopListening: (() => Promise<void>) | undefined;
  let closed = false;

  /** Reads a tenant's new events until none are left; a notice during a read triggers another. */
  function read(tenantId: string, feed: TenantFeed): void {
    if (feed.reading) {
      feed.again = true;
      return;
    }
    feed.reading = (async () => {
      await feed.ready;
      do {
        feed.again = false;
        const horizon = await tenantEventHorizon(db, tenantId);
        for (;;) {
          const rows = await readTenantEvents(db, { tenantId, afterSeq: feed.lastSeq, upToSeq: horizon, types: watchedEventTypes, limit: pageSize });
          if (rows.length === 0) break;
          feed.lastSeq = rows[rows.length - 1]!.seq;
          for (const s of feed.subscribers) s.deliver(rows);
          if (rows.length < pageSize) break;
        }
        feed.lastSeq = Math.max(feed.lastSeq, horizon);
      } while (feed.again && feeds.get(tenantId) === feed);
    })()
      .catch((err) => {
        // lastSeq did not move past what was delivered: read again shortly. Not only when the horizon gave
        // up on writers still open (if they roll back, no notice comes): a read cut by a reset, a
        // statement deadline or a database restart while the listener stayed up gets no other notice
        // either when the writes it was reading were the last ones, and its watchers would stall.
        logger.error("watch hub could not read events", { tenant_id: tenantId, err });
        setTimeout(() => feeds.get(tenantId) === feed && read(tenantId, feed), retryMs).unref();
      })
      .finally(() => {
        feed.reading = undefined;
      });
  }

  return {
    /** Listens for the outbox's notices; when notices may have been missed, every watched tenant is read again. */
    async start(): Promise<void> {
      stopListening = await deps.listen(
        eventChannel,
        (tenantId) => {
          const feed = feeds.get(tenantId);
          if (feed) read(tenantId, feed);
        },
        () => {
          for (const [tenantId, feed] of feeds) read(tenantId, feed);
        },
      );
    },

    /** Adds a watcher of a tenant. */
    async subscribe(tenantId: string, subscriber: HubSubscriber): Promise<HubSubscription> {
      if (closed) throw new Error("the watch hub is closed");
      let feed = feeds.get(tenantId);
      if (!feed) {
        const created: TenantFeed = { lastSeq: 0, subscribers: new Set(), ready: Promise.resolve(), reading: undefined, again: false };
        created.ready = tenantEventHorizon(db, tenantId).then((seq) => {
          created.lastSeq = seq;
        });
        feeds.set(tenantId, (feed = created));
        // A notice that came while the start was being read is not lost: read once more now.
        created.ready.then(() => read(tenantId, created), () => feeds.get(tenantId) === created && feeds.delete(tenantId));
      }
      await feed.ready;
      feed.subscribers.add(subscriber);
      const current = feed;
      return {
        startSeq: current.lastSeq,
        unsubscribe() {
          current.subscribers.delete(subscriber);
          if (current.subscribers.size === 0 && feeds.get(tenantId) === current) feeds.delete(tenantId);
        },
      };
    },

    /** How many watchers this replica serves per tenant. */
    watchers(tenantId: string): number {
      return feeds.get(tenantId)?.subscribers.size ?? 0;
    },

    /** Ends every stream (they complete; clients reconnect to another replica) and stops listening. */
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const feed of feeds.values()) for (const s of feed.subscribers) s.close();
      feeds.clear();
      await stopListening?.();
    },
  };
}

export type WatchHub = ReturnType<typeof createWatchHub>;
