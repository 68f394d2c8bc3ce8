import type { Client } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ScaiVaultError } from "./errors.js";
import type { WatchService } from "./gen/scaivault/v1/watch_pb.js";

/** One change of a secret, as `secrets.watch` yields it (never a value). */
export interface SecretChange {
  /** `evt_…`: pass it as `cursor` to resume after this change. */
  eventId: string;
  /** `secret.created`, `secret.updated`, `secret.deleted`, `secret.restored`, `rotation.completed`, … */
  eventType: string;
  path: string;
  /** The version the change made current (the deleted or restored one for delete and restore). */
  version: number;
  /** The stage of that version after the change (`current` today). */
  stage: string;
  createdAt?: Date;
}

/** Options of `secrets.watch`. */
export interface WatchOptions {
  /** Only paths starting with this (all when absent). */
  prefix?: string;
  /** Resume after this event id (from an earlier run); the stream replays what came after it. */
  cursor?: string;
  /** Ends the iteration. */
  signal?: AbortSignal;
  /** Called each time the stream is live (first connect and every reconnect). */
  onLive?: () => void;
  /** Called before each reconnect with the error that ended the stream. */
  onReconnect?: (error: ScaiVaultError, attempt: number) => void;
}

/** Codes after which reconnecting cannot help: the iteration throws them. */
const definitive = new Set(["access_denied", "invalid_request", "invalid_path", "not_found", "unimplemented"]);

/**
 * The reconnecting watch: keeps the last event id and resumes after it on every new stream, so
 * nothing inside the service's retention is missed; backs off (100 ms doubling to 5 s) while the
 * service is away. A stream that ends because its token expired is reopened at once with a fresh
 * token from `getToken`; with a fixed token the second refusal in a row is thrown.
 */
export async function* watchChanges(
  client: Client<typeof WatchService>,
  headers: () => Promise<Headers>,
  options: WatchOptions = {},
): AsyncGenerator<SecretChange> {
  let cursor = options.cursor;
  let failures = 0;
  let refusedTokens = 0;
  for (;;) {
    if (options.signal?.aborted) return;
    try {
      const stream = client.watchSecrets({ prefix: options.prefix ?? "", cursor }, { headers: await headers(), signal: options.signal });
      for await (const m of stream) {
        failures = 0;
        refusedTokens = 0;
        if (!m.eventId) {
          if (m.eventType === "heartbeat") options.onLive?.();
          continue;
        }
        cursor = m.eventId;
        yield { eventId: m.eventId, eventType: m.eventType, path: m.path, version: m.version, stage: m.stage, createdAt: m.createdAt ? timestampDate(m.createdAt) : undefined };
      }
      // A clean end: the replica is draining. Reconnect (to another one behind the balancer).
    } catch (err) {
      if (options.signal?.aborted) return;
      const error = ScaiVaultError.from(err);
      if (definitive.has(error.code)) throw error;
      if (error.code === "unauthenticated" && ++refusedTokens > 1) throw error;
      failures++;
      options.onReconnect?.(error, failures);
      if (error.code === "unauthenticated") continue;
    }
    await sleep(Math.min(5000, 100 * 2 ** Math.max(0, failures - 1)), options.signal);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}
