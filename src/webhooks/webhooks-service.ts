import { auditAllowed } from "../audit/call-audit.js";
import type { CallContext } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import type { Envelope } from "../crypto/envelope.js";
import { inTransaction, type Db, type Tx } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import { pageLimit, pageOf, encodeCursor } from "../pagination.js";
import { decodeWebhookSecret, generateWebhookSecret } from "./signature.js";
import { afterIdOf, guardedTargetUrl, listTargetAttempts, queueTestPing, validEventTypes, validTargetName } from "../outbound/delivery-targets.js";
import { systemResolveAll, type AllowList, type ResolveAll } from "../outbound/ssrf-guard.js";
import * as store from "./webhooks-store.js";
import type { WebhookRow } from "./webhooks-store.js";

/** Additional authenticated data binding a webhook's signing key to its tenant and id. */
export function webhookSecretAad(tenantId: string, webhookId: string): Buffer {
  return Buffer.from(JSON.stringify(["scaivault.webhook-secret.v1", tenantId, webhookId]));
}

export interface CreateWebhookInput {
  name?: string;
  url?: string;
  secret?: string;
  events?: string[];
  isActive?: boolean;
}

export interface UpdateWebhookInput {
  url?: string;
  secret?: string;
  events?: string[];
  isActive?: boolean;
}

export interface PageInput {
  limit?: number;
  cursor?: string;
}

export interface WebhooksServiceDeps {
  db: Db;
  envelope: Envelope;
  clock: Clock;
  /** SCAIVAULT_WEBHOOK_ALLOW_HOSTS. */
  allow: AllowList;
  /** How URL hosts are resolved for the create/patch check (the system resolver by default). */
  resolve?: ResolveAll;
}

/** The webhook use cases: names, URLs behind the SSRF guard, write-only signing secrets, the attempt log, pings. */
export function createWebhooksService(deps: WebhooksServiceDeps) {
  const { db, envelope, clock, allow } = deps;
  const resolve = deps.resolve ?? systemResolveAll;

  async function validUrl(url: string | undefined): Promise<string> {
    if (url === undefined || url === "") throw new ScaiVaultError("invalid_request", "url is required");
    return guardedTargetUrl(url, allow, resolve);
  }

  async function sealSecret(tx: Tx, tenantId: string, webhookId: string, key: Buffer) {
    return envelope.encrypt(tx, tenantId, webhookSecretAad(tenantId, webhookId), key);
  }

  async function existing(exec: Db | Tx, tenantId: string, id: string, forUpdate = false): Promise<WebhookRow> {
    const row = await store.findWebhook(exec, tenantId, id, forUpdate);
    if (!row) throw notFound(id);
    return row;
  }

  /** Registers a webhook; the generated secret (when none was given) is returned this once. */
  async function create(call: CallContext, input: CreateWebhookInput): Promise<{ webhook: WebhookRow; secret?: string }> {
    const name = validTargetName(input.name);
    const events = validEventTypes(input.events ?? []);
    const generated = input.secret === undefined ? generateWebhookSecret() : undefined;
    const key = secretKey(generated ?? input.secret!);
    const url = await validUrl(input.url);
    const tenantId = call.tenantId;
    const id = `wh_${name}`;
    const now = clock.now();
    await envelope.prepareTenant(tenantId);
    return inTransaction(db, async (tx) => {
      const sealed = await sealSecret(tx, tenantId, id, key);
      const webhook = await store.insertWebhook(tx, { tenantId, id, name, url, events, isActive: input.isActive ?? true, sealed, now });
      if (!webhook) throw new ScaiVaultError("name_conflict", `a webhook named ${name} already exists`);
      await auditAllowed(tx, clock, call, { path: id });
      return { webhook, secret: generated };
    });
  }

  async function list(call: CallContext, input: PageInput) {
    const limit = pageLimit(input.limit);
    const rows = await store.listWebhooksPage(db, call.tenantId, afterIdOf(input.cursor), limit);
    await auditAllowed(db, clock, call);
    return pageOf(rows, limit, (last) => encodeCursor("after", last.id));
  }

  async function get(call: CallContext, id: string): Promise<WebhookRow> {
    const row = await existing(db, call.tenantId, id);
    await auditAllowed(db, clock, call, { path: id });
    return row;
  }

  /** Changes the fields given; a new secret replaces the old one at once. */
  async function update(call: CallContext, id: string, input: UpdateWebhookInput): Promise<WebhookRow> {
    const tenantId = call.tenantId;
    const events = input.events === undefined ? undefined : validEventTypes(input.events);
    const key = input.secret === undefined ? undefined : secretKey(input.secret);
    const url = input.url === undefined ? undefined : await validUrl(input.url);
    if (key) await envelope.prepareTenant(tenantId);
    return inTransaction(db, async (tx) => {
      await existing(tx, tenantId, id, true);
      const sealed = key ? await sealSecret(tx, tenantId, id, key) : undefined;
      const changes: store.WebhookChanges = {
        ...(url !== undefined ? { url } : {}),
        ...(events !== undefined ? { events } : {}),
        ...(input.isActive !== undefined ? { is_active: input.isActive } : {}),
        ...(sealed ? { sealed } : {}),
      };
      const row = await store.updateWebhook(tx, tenantId, id, changes, clock.now());
      if (!row) throw notFound(id);
      await auditAllowed(tx, clock, call, { path: id });
      return row;
    });
  }

  /** Deletes a webhook, its pending deliveries and its attempt log. */
  async function remove(call: CallContext, id: string) {
    return inTransaction(db, async (tx) => {
      if (!(await store.deleteWebhook(tx, call.tenantId, id))) throw notFound(id);
      await auditAllowed(tx, clock, call, { path: id });
      return { id, deleted: true };
    });
  }

  /** The attempt log of a webhook, newest first. */
  async function deliveries(call: CallContext, id: string, input: PageInput) {
    return listTargetAttempts(deps, store.webhookQueue, call, id, input, existing);
  }

  /** Queues a `ping` event for this webhook only; the delivery worker sends it like any other. */
  async function test(call: CallContext, id: string) {
    return inTransaction(db, async (tx) => queueTestPing(deps, tx, store.webhookQueue, call, await existing(tx, call.tenantId, id), "webhook"));
  }

  return { create, list, get, update, remove, deliveries, test };
}

export type WebhooksService = ReturnType<typeof createWebhooksService>;

function notFound(id: string) {
  return new ScaiVaultError("webhook_not_found", `webhook ${id} not found`);
}

function secretKey(secret: string): Buffer {
  try {
    return decodeWebhookSecret(secret);
  } catch {
    throw new ScaiVaultError("invalid_request", "secret must be whsec_ followed by the standard base64 of 24 to 64 bytes");
  }
}
