import { auditAllowed } from "../audit/call-audit.js";
import type { CallContext } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import type { Envelope } from "../crypto/envelope.js";
import { inTransaction, type Db, type Tx } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import { encodeCursor, pageLimit, pageOf } from "../pagination.js";
import { afterIdOf, guardedTargetUrl, listTargetAttempts, queueTestPing, validEventTypes, validTargetName } from "../outbound/delivery-targets.js";
import { systemResolveAll, type AllowList, type ResolveAll } from "../outbound/ssrf-guard.js";
import * as store from "./notification-channels-store.js";
import type { ChannelRow } from "./notification-channels-store.js";

/** A plain address (`ops@example.com`); display names and lists are not accepted. */
const EMAIL_PATTERN = /^[^\s@<>,;:"()[\]\\]{1,64}@[A-Za-z0-9.-]{1,253}$/;
const MAX_RECIPIENTS = 50;
export const channelTypes = ["email", "slack"] as const;

/** Additional authenticated data binding a Slack URL to its tenant and channel. */
export function slackUrlAad(tenantId: string, channelId: string): Buffer {
  return Buffer.from(JSON.stringify(["scaivault.slack-url.v1", tenantId, channelId]));
}

export interface ChannelConfigInput {
  to?: string[];
  webhookUrl?: string;
}

export interface CreateChannelInput {
  name?: string;
  type?: string;
  config?: ChannelConfigInput;
  events?: string[];
  policyIds?: string[];
  isActive?: boolean;
}

export interface UpdateChannelInput {
  config?: ChannelConfigInput;
  events?: string[];
  policyIds?: string[];
  isActive?: boolean;
}

export interface NotificationChannelsServiceDeps {
  db: Db;
  envelope: Envelope;
  clock: Clock;
  /** SCAIVAULT_WEBHOOK_ALLOW_HOSTS: Slack URLs pass the webhooks' SSRF guard. */
  allow: AllowList;
  /** Whether SCAIVAULT_SMTP_URL is set (email channels need it). */
  smtpConfigured: boolean;
  resolve?: ResolveAll;
}

/** The notification channel use cases: validation, the sealed Slack URL, the attempt log, test messages. */
export function createNotificationChannelsService(deps: NotificationChannelsServiceDeps) {
  const { db, envelope, clock, allow } = deps;
  const resolve = deps.resolve ?? systemResolveAll;

  async function validSlackUrl(url: string | undefined): Promise<Buffer> {
    if (url === undefined || url === "") throw new ScaiVaultError("invalid_request", "config.webhook_url is required for a slack channel");
    return Buffer.from(await guardedTargetUrl(url, allow, resolve, "config.webhook_url: "), "utf8");
  }

  async function validPolicyIds(tenantId: string, ids: string[]): Promise<string[]> {
    const unique = [...new Set(ids)];
    const known = await store.existingPolicyIds(db, tenantId, unique);
    const missing = unique.find((id) => !known.has(id));
    if (missing !== undefined) throw new ScaiVaultError("rotation_policy_not_found", `policy_ids: rotation policy ${JSON.stringify(missing).slice(0, 80)} not found`);
    return unique;
  }

  async function existing(exec: Db | Tx, tenantId: string, id: string, forUpdate = false): Promise<ChannelRow> {
    const row = await store.findChannel(exec, tenantId, id, forUpdate);
    if (!row) throw notFound(id);
    return row;
  }

  /** Creates a channel; a Slack URL is sealed under the tenant's data key and never shown again. */
  async function create(call: CallContext, input: CreateChannelInput): Promise<ChannelRow> {
    const name = validTargetName(input.name);
    const type = input.type ?? "";
    if (!(channelTypes as readonly string[]).includes(type)) throw new ScaiVaultError("invalid_request", "type must be email or slack");
    const events = validEventTypes(input.events ?? []);
    const tenantId = call.tenantId;
    const policyIds = await validPolicyIds(tenantId, input.policyIds ?? []);
    let recipients: string[] = [];
    let url: Buffer | undefined;
    if (type === "email") {
      if (!deps.smtpConfigured) throw new ScaiVaultError("invalid_request", "email channels need the service setting SCAIVAULT_SMTP_URL");
      if (input.config?.webhookUrl !== undefined) throw new ScaiVaultError("invalid_request", "config.webhook_url is for slack channels");
      recipients = validRecipients(input.config?.to);
    } else {
      if (input.config?.to?.length) throw new ScaiVaultError("invalid_request", "config.to is for email channels");
      url = await validSlackUrl(input.config?.webhookUrl);
    }
    const id = `nc_${name}`;
    const now = clock.now();
    if (url) await envelope.prepareTenant(tenantId);
    return inTransaction(db, async (tx) => {
      const sealedUrl = url ? await envelope.encrypt(tx, tenantId, slackUrlAad(tenantId, id), url) : undefined;
      const row = await store.insertChannel(tx, { tenantId, id, name, type, recipients, sealedUrl, events, policyIds, isActive: input.isActive ?? true, now });
      if (!row) throw new ScaiVaultError("name_conflict", `a notification channel named ${name} already exists`);
      await auditAllowed(tx, clock, call, { path: id });
      return row;
    });
  }

  async function list(call: CallContext, input: { limit?: number; cursor?: string }) {
    const limit = pageLimit(input.limit);
    const rows = await store.listChannelsPage(db, call.tenantId, afterIdOf(input.cursor), limit);
    await auditAllowed(db, clock, call);
    return pageOf(rows, limit, (last) => encodeCursor("after", last.id));
  }

  async function get(call: CallContext, id: string): Promise<ChannelRow> {
    const row = await existing(db, call.tenantId, id);
    await auditAllowed(db, clock, call, { path: id });
    return row;
  }

  /** Changes the fields given; recipients or the Slack URL are replaced as a whole. */
  async function update(call: CallContext, id: string, input: UpdateChannelInput): Promise<ChannelRow> {
    const tenantId = call.tenantId;
    const events = input.events === undefined ? undefined : validEventTypes(input.events);
    const policyIds = input.policyIds === undefined ? undefined : await validPolicyIds(tenantId, input.policyIds);
    const current = await existing(db, tenantId, id);
    let recipients: string[] | undefined;
    let url: Buffer | undefined;
    if (input.config) {
      if (current.type === "email") {
        if (input.config.webhookUrl !== undefined) throw new ScaiVaultError("invalid_request", "config.webhook_url is for slack channels");
        recipients = validRecipients(input.config.to);
      } else {
        if (input.config.to?.length) throw new ScaiVaultError("invalid_request", "config.to is for email channels");
        url = await validSlackUrl(input.config.webhookUrl);
      }
    }
    if (url) await envelope.prepareTenant(tenantId);
    return inTransaction(db, async (tx) => {
      await existing(tx, tenantId, id, true);
      const sealedUrl = url ? await envelope.encrypt(tx, tenantId, slackUrlAad(tenantId, id), url) : undefined;
      const changes: store.ChannelChanges = {
        ...(recipients ? { recipients } : {}),
        ...(sealedUrl ? { sealedUrl } : {}),
        ...(events !== undefined ? { events } : {}),
        ...(policyIds !== undefined ? { policy_ids: policyIds } : {}),
        ...(input.isActive !== undefined ? { is_active: input.isActive } : {}),
      };
      const row = await store.updateChannel(tx, tenantId, id, changes, clock.now());
      if (!row) throw notFound(id);
      await auditAllowed(tx, clock, call, { path: id });
      return row;
    });
  }

  async function remove(call: CallContext, id: string) {
    return inTransaction(db, async (tx) => {
      if (!(await store.deleteChannel(tx, call.tenantId, id))) throw notFound(id);
      await auditAllowed(tx, clock, call, { path: id });
      return { id, deleted: true };
    });
  }

  /** The attempt log of a channel, newest first. */
  async function deliveries(call: CallContext, id: string, input: { limit?: number; cursor?: string }) {
    return listTargetAttempts(deps, store.channelQueue, call, id, input, existing);
  }

  /** Queues a `ping` for this channel only; the worker sends it like any other message. */
  async function test(call: CallContext, id: string) {
    return inTransaction(db, async (tx) => queueTestPing(deps, tx, store.channelQueue, call, await existing(tx, call.tenantId, id), "notification channel"));
  }

  return { create, list, get, update, remove, deliveries, test };
}

export type NotificationChannelsService = ReturnType<typeof createNotificationChannelsService>;

function notFound(id: string) {
  return new ScaiVaultError("notification_channel_not_found", `notification channel ${JSON.stringify(id).slice(0, 80)} not found`);
}

function validRecipients(to: string[] | undefined): string[] {
  const list = [...new Set((to ?? []).map((a) => a.trim()))];
  if (list.length === 0) throw new ScaiVaultError("invalid_request", "config.to must list at least one email address");
  if (list.length > MAX_RECIPIENTS) throw new ScaiVaultError("invalid_request", `config.to takes at most ${MAX_RECIPIENTS} addresses`);
  const bad = list.find((a) => !EMAIL_PATTERN.test(a));
  if (bad !== undefined) throw new ScaiVaultError("invalid_request", `config.to: ${JSON.stringify(bad).slice(0, 80)} is not an email address`);
  return list;
}
