import type { ManualClock } from "../../src/clock.js";
import { listEvents } from "../../src/events/outbox-store.js";
import { startTestVault, type TestVault } from "../support/vault.js";

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/**
 * A test server whose scheduler only runs when the test calls `runSchedulerTick`, so that time
 * is the injected clock's alone. Webhooks may point at loopback; their worker stays idle (tests
 * read the outbox directly).
 */
export function startRotationVault(clock: ManualClock, env: Record<string, string> = {}): Promise<TestVault> {
  return startTestVault({
    clock,
    env: {
      SCAIVAULT_SCHEDULER_ENABLED: "false",
      SCAIVAULT_WEBHOOK_POLL: "1h",
      SCAIVAULT_WEBHOOK_ALLOW_HOSTS: "127.0.0.1",
      ...env,
    },
  });
}

/** A token that outlives the walks through months of injected time. */
export function longToken(tv: TestVault, tenantId: string, scopes = ["admin", "audit:read"]): Promise<string> {
  return tv.token({ tenantId, scopes, ttlSeconds: 800 * 86400 });
}

export interface OutboxEvent {
  seq: number;
  event_type: string;
  path: string | null;
  policy_id: string | null;
  data: Record<string, any>;
  created_at: Date;
}

/** The tenant's outbox events after `afterSeq`, with `data` parsed, as a webhook receiver would see them. */
export async function outbox(tv: TestVault, tenantId: string, afterSeq = 0): Promise<OutboxEvent[]> {
  const rows = await listEvents(tv.vault.db, tenantId, afterSeq);
  return rows.map((r) => ({ ...r, data: typeof r.data === "string" ? JSON.parse(r.data) : (r.data as Record<string, any>) }));
}

/** Only the rotation events, shortened to what the assertions compare. */
export async function rotationEvents(tv: TestVault, tenantId: string, afterSeq = 0) {
  return (await outbox(tv, tenantId, afterSeq)).filter((e) => e.event_type.startsWith("rotation."));
}

/** Registers a webhook over the API; its URL is on loopback and nothing is delivered during the tests. */
export async function registerWebhook(tv: TestVault, token: string, name: string, events = ["rotation.due"]) {
  const res = await tv.rest("POST", "/v1/webhooks", { token, body: { name, url: "http://127.0.0.1:9/hook", events } });
  if (res.status !== 201) throw new Error(`webhook registration failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Flips one byte of a secret's current ciphertext: the storage corruption a generated rotation must survive as `failed`. */
export async function corruptCurrentVersion(tv: TestVault, tenantId: string, path: string) {
  const secret = await tv.vault.db.selectFrom("secrets").select(["id", "current_version"]).where("tenant_id", "=", tenantId).where("path", "=", path).executeTakeFirstOrThrow();
  const version = await tv.vault.db
    .selectFrom("secret_versions")
    .select("ciphertext")
    .where("secret_id", "=", secret.id)
    .where("version", "=", secret.current_version)
    .executeTakeFirstOrThrow();
  const flipped = Buffer.from(version.ciphertext);
  flipped[0] = flipped[0]! ^ 0xff;
  await tv.vault.db.updateTable("secret_versions").set({ ciphertext: flipped }).where("secret_id", "=", secret.id).where("version", "=", secret.current_version).execute();
}
