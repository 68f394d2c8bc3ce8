import { randomBytes } from "node:crypto";
import pg from "pg";

/** Subscribes to a notification channel; `onReset` runs whenever notices may have been missed. */
export type Listen = (channel: string, onNotice: (payload: string) => void, onReset: () => void) => Promise<() => Promise<void>>;

/** The `application_name` of a replica's listening connection, so operators can tell it apart. */
export const listenerApplicationName = "scaivault-listener";

export interface SharedListenerOptions {
  /** Options of the listening connection (connect and query timeouts, keepalives). */
  clientOptions: pg.ClientConfig;
  /** How often the connection proves it still hears notices (default 1 s). */
  heartbeatMs?: number;
  onError?: (err: Error) => void;
  /** Milliseconds since the epoch (tests pass their own). */
  now?: () => number;
}

export interface SharedListener {
  listen: Listen;
  /**
   * Whether every notice committed up to about `1.5 × heartbeatMs` ago has reached this replica:
   * the connection listens, and it heard its own heartbeat notice that recently. Caches fed by
   * notices answer only while this holds; otherwise reads go to the database.
   */
  coherent(): boolean;
  close(): Promise<void>;
}

interface Subscriber {
  onNotice: (payload: string) => void;
  onReset: () => void;
}

/**
 * LISTEN for every channel of a replica on one connection of its own (pooled connections come
 * and go). One connection, not one per channel: on every commit that notifies, PostgreSQL wakes
 * each listening connection of the database whatever channels it listens on, so each more would
 * cost every write one more process woken.
 *
 * A connection that drops tells us; one that goes silent (a frozen server, a partition) does not.
 * So the connection notifies a channel of its own every `heartbeatMs` and waits to hear it back.
 * PostgreSQL's notice queue is in commit order and a listener reads it in that order, so hearing
 * a heartbeat proves every notice committed before it was sent has arrived. A heartbeat not heard
 * within twice the interval counts as a lost connection. When the connection is lost every
 * subscriber's `onReset` runs and `coherent()` is false; it reconnects with backoff, LISTENs
 * again, runs every `onReset` once more (notices of the gap are lost) and only then is coherent.
 */
export function createSharedListener(url: string, options: SharedListenerOptions): SharedListener {
  const { clientOptions, heartbeatMs = 1_000, onError, now = Date.now } = options;
  const heartbeatChannel = `scaivault_heartbeat_${randomBytes(6).toString("hex")}`;
  const channels = new Map<string, Set<Subscriber>>();
  let closed = false;
  let client: pg.Client | undefined;
  let connecting: Promise<void> | undefined;
  let retry: NodeJS.Timeout | undefined;
  let beatTimer: NodeJS.Timeout | undefined;
  let beat = 0;
  let pending: { nonce: string; sentAt: number } | undefined;
  /** When the last heartbeat heard back was sent (0: not since the connection was lost). */
  let confirmedSentAt = 0;
  const lost = new WeakSet<pg.Client>();
  const resetAll = () => {
    for (const subscribers of channels.values()) for (const s of subscribers) s.onReset();
  };

  const heartbeat = (c: pg.Client) => {
    if (client !== c) return;
    if (pending) {
      if (now() - pending.sentAt > 2 * heartbeatMs) reconnect(c, 250, new Error("the listening connection stopped answering"));
      return;
    }
    pending = { nonce: String(++beat), sentAt: now() };
    c.query("select pg_notify($1, $2)", [heartbeatChannel, pending.nonce]).catch((err: Error) => reconnect(c, 250, err));
  };
  const heard = (payload: string) => {
    if (!pending || payload !== pending.nonce) return;
    confirmedSentAt = pending.sentAt;
    pending = undefined;
  };

  const connect = async (delayMs: number): Promise<void> => {
    if (closed) return;
    const c = new pg.Client({ ...clientOptions, connectionString: url, application_name: listenerApplicationName });
    c.on("notification", (n) => {
      if (n.channel === heartbeatChannel) return heard(n.payload ?? "");
      for (const s of channels.get(n.channel) ?? []) s.onNotice(n.payload ?? "");
    });
    // Backing off only while attempts fail: once connected, a new loss retries after 250 ms again.
    let backoffMs = delayMs;
    c.on("error", (err) => reconnect(c, backoffMs, err));
    c.on("end", () => reconnect(c, backoffMs));
    try {
      await c.connect();
      await c.query(`listen ${pg.escapeIdentifier(heartbeatChannel)}`);
      for (const channel of channels.keys()) await c.query(`listen ${pg.escapeIdentifier(channel)}`);
      if (lost.has(c)) return; // dropped while listening: the reconnection is under way
      client = c;
      backoffMs = 250;
      pending = undefined;
      // Everything notified from here on arrives; what changed before is dropped by the resets.
      resetAll();
      confirmedSentAt = now();
      clearInterval(beatTimer);
      beatTimer = setInterval(() => heartbeat(c), heartbeatMs);
      beatTimer.unref();
    } catch (err) {
      reconnect(c, backoffMs, err as Error);
      throw err;
    }
  };
  const reconnect = (c: pg.Client, delayMs: number, err?: Error) => {
    if (closed || lost.has(c)) return;
    if (err) onError?.(err);
    lost.add(c);
    if (client === c) {
      client = undefined;
      clearInterval(beatTimer);
    }
    confirmedSentAt = 0;
    resetAll();
    c.removeAllListeners();
    c.on("error", () => {});
    // end() would wait for a server that may never answer: the socket goes at once.
    (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    const next = Math.min(delayMs * 2, 2_000); // back within seconds of the database returning
    clearTimeout(retry);
    retry = setTimeout(() => void (connecting = connect(next).catch(() => {})), delayMs);
    retry.unref();
  };

  const listen: Listen = async (channel, onNotice, onReset) => {
    const subscriber: Subscriber = { onNotice, onReset };
    const subscribers = channels.get(channel) ?? new Set<Subscriber>();
    const isNew = !channels.has(channel);
    channels.set(channel, subscribers.add(subscriber));
    if (!connecting) {
      // The first subscriber connects (every later attempt sets `connecting` too), and fails when
      // the database cannot be reached; attempts then go on in the background.
      connecting = connect(250);
      await connecting;
    } else {
      await connecting;
      const c = client;
      // Not connected now: the reconnection listens on this channel and resets every subscriber.
      if (c) {
        if (isNew) await c.query(`listen ${pg.escapeIdentifier(channel)}`).catch((err: Error) => reconnect(c, 250, err));
        onReset();
      }
    }
    return async () => {
      subscribers.delete(subscriber);
      if (subscribers.size > 0 || channels.get(channel) !== subscribers) return;
      channels.delete(channel);
      await client?.query(`unlisten ${pg.escapeIdentifier(channel)}`).catch(() => {});
    };
  };

  return {
    listen,
    coherent: () => client !== undefined && now() - confirmedSentAt <= 1.5 * heartbeatMs,
    async close() {
      closed = true;
      clearTimeout(retry);
      clearInterval(beatTimer);
      const c = client;
      client = undefined;
      if (c) {
        c.removeAllListeners();
        c.on("error", () => {});
        // A server that does not answer must not hold up shutdown: after a second the socket goes.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([c.end().catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, 1_000)))]);
        clearTimeout(timer);
        (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
      }
    },
  };
}
