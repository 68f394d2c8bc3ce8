import type { JsonObject } from "@bufbuild/protobuf";
import { ScaiVaultError, type ScaiVaultClient } from "../../../clients/typescript/src/index.js";
import type { LoadedSecret } from "./secret-env.js";

/** The secrets by path, as last read. */
export type SecretSet = Map<string, LoadedSecret>;

/** Reads the current version of every path (one failure fails the whole read: nothing half-new is delivered). */
export async function readSecrets(client: ScaiVaultClient, paths: string[]): Promise<SecretSet> {
  const read = await Promise.all(paths.map((path) => client.secrets.getSecret({ path })));
  return new Map(read.map((secret, i) => [paths[i]!, { version: secret.version, data: (secret.data ?? {}) as JsonObject }]));
}

/** Codes after which trying again later may succeed: the service is away or busy. */
export function isTransient(error: ScaiVaultError): boolean {
  return ["unavailable", "deadline_exceeded", "rate_limited", "internal", "unknown", "aborted"].includes(error.code);
}

/** 100 ms doubling to 5 s. */
export function backoffMs(attempt: number): number {
  return Math.min(5000, 100 * 2 ** Math.max(0, attempt - 1));
}

/**
 * The first read: while the service is unreachable it is tried again with backoff (a sidecar may
 * start before the service), unless `failFast`. Other errors (a missing secret, a refused token)
 * are thrown at once.
 */
export async function readSecretsAtStart(client: ScaiVaultClient, paths: string[], options: { failFast: boolean; log(message: string): void }): Promise<SecretSet> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await readSecrets(client, paths);
    } catch (err) {
      const error = ScaiVaultError.from(err);
      if (options.failFast || !isTransient(error)) throw error;
      const wait = backoffMs(attempt);
      options.log(`the service cannot be reached (${error.code}: ${error.message}); trying again in ${wait} ms`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

/** Options of {@link followSecrets}. */
export interface FollowOptions {
  client: ScaiVaultClient;
  paths: string[];
  /** Changes within this long of each other make one delivery. */
  debounceMs: number;
  /** Ends the following. */
  signal: AbortSignal;
  log(message: string): void;
  /** Called with the new secrets when a named secret's current version changed; the next check waits for it. */
  onChange(secrets: SecretSet, changed: string[]): Promise<void>;
}

/** The paths whose version differs between two reads. */
function changedPaths(before: SecretSet, after: SecretSet): string[] {
  return [...after].filter(([path, secret]) => before.get(path)?.version !== secret.version).map(([path]) => path);
}

/** The longest common start of the paths, so the stream carries only what may concern them. */
export function commonPrefix(paths: string[]): string {
  if (paths.length === 0) return "";
  let prefix = paths[0]!;
  for (const path of paths) while (!path.startsWith(prefix)) prefix = prefix.slice(0, -1);
  return prefix;
}

/**
 * Keeps `delivered` current from the watch stream, with no polling. A change event for a named
 * path (and each time the stream is live again: first connect, reconnect, service restart) starts
 * a debounced check that reads the named secrets and calls `onChange` only when a current version
 * differs from what was delivered, so heartbeats, reconnects, replays and other secrets' changes
 * never count, and a change made while the stream was away is still seen. A failed read keeps the
 * delivered values and is printed; when the service was merely away the check is tried again.
 */
export async function followSecrets(options: FollowOptions, delivered: SecretSet): Promise<void> {
  const named = new Set(options.paths);
  let timer: NodeJS.Timeout | undefined;
  let checking: Promise<void> = Promise.resolve();
  let failures = 0;

  const check = async () => {
    let next: SecretSet;
    try {
      next = await readSecrets(options.client, options.paths);
      failures = 0;
    } catch (err) {
      const error = ScaiVaultError.from(err);
      options.log(`cannot read the new values, keeping the old ones: ${error.code}: ${error.message}`);
      // Tried again while the service is away, and after a refused token (a token file may be refreshed meanwhile).
      if ((isTransient(error) || error.code === "unauthenticated") && !options.signal.aborted) schedule(backoffMs(++failures));
      return;
    }
    const changed = changedPaths(delivered, next);
    if (changed.length === 0) return;
    try {
      await options.onChange(next, changed);
      delivered = next;
    } catch (err) {
      options.log(`cannot deliver the new values, keeping the old ones: ${(err as Error).message}`);
    }
  };
  function schedule(delay = options.debounceMs) {
    clearTimeout(timer);
    timer = setTimeout(() => {
      checking = checking.then(check, check);
    }, delay);
  }

  options.signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
  const prefix = commonPrefix(options.paths);
  for (let attempt = 1; !options.signal.aborted; attempt++) {
    try {
      const changes = options.client.secrets.watch({
        prefix,
        signal: options.signal,
        onLive: () => schedule(),
        onReconnect: (error) => options.log(`the watch stream ended (${error.code}); reconnecting`),
      });
      for await (const change of changes) {
        attempt = 0;
        if (named.has(change.path)) schedule();
      }
    } catch (err) {
      if (options.signal.aborted) break;
      // A refused token or a cursor the service no longer knows: start a fresh stream later (the check on live covers the gap).
      const error = ScaiVaultError.from(err);
      options.log(`the watch stream failed (${error.code}: ${error.message}); opening a new one`);
      await new Promise((resolve) => setTimeout(resolve, backoffMs(attempt + 3)));
    }
  }
  clearTimeout(timer);
  await checking;
}
