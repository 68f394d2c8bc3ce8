import type { JsonObject } from "@bufbuild/protobuf";
import { auditInsert } from "../audit/audit-store.js";
import { auditEntryOf } from "../audit/call-audit.js";
import type { CallContext } from "../auth/principal.js";
import { secretAad } from "../crypto/envelope.js";
import { inTransaction, type Tx } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import { appendEventsWith } from "../events/outbox-store.js";
import {
  DEFAULT_MAX_VERSIONS,
  dedupe,
  requireData,
  resolveExpiry,
  serializeData,
  validateMaxVersions,
  validateMetadata,
  validateSecretType,
  checkStoredForWrite,
  versionConflict,
  type PutSecretInput,
} from "./secret-input.js";
import { validateSecretPath } from "./secret-path.js";
import * as batchStore from "./secrets-batch-store.js";
import type { SecretsServiceDeps } from "./secrets-deps.js";
import type { SecretRow } from "./secrets-store.js";

// A batch write (`POST /v1/secrets:batchPut`, BatchPutSecrets): many PutSecret calls as one
// transaction. Every item is checked before the transaction starts and again against the stored
// rows inside it; any failure rolls the whole batch back, so a batch is written entirely or not at
// all. Each item keeps what a single write guarantees: its version sealed with its own AAD, CAS,
// cas_required, max_versions pruning, completion of a pending event-driven rotation, one event
// and one audit entry. The statements are set-based, a fixed number per batch.

/** One item of a batch: what PutSecret takes. */
export interface BatchPutItem extends PutSecretInput {
  path: string;
}

/** What a batch answers for one item, as PutSecret would. */
export interface BatchPutResult {
  path: string;
  secretType: string;
  version: number;
  created: boolean;
  createdAt: Date;
  updatedAt: Date;
  expiresAt: Date | null;
  previousVersion: number | undefined;
}

/** An item after its own checks, before it meets the stored rows. */
interface CheckedItem {
  index: number;
  path: string;
  data: JsonObject;
  secretType: string | undefined;
  maxVersions: number | undefined;
  expiresAt: Date | undefined;
  cas: number | undefined;
  input: BatchPutItem;
}

/** Runs a check of item `index`, prefixing its error with the item (`items[3]: ...`). */
function forItem<T>(index: number, check: () => T): T {
  try {
    return check();
  } catch (err) {
    throw itemError(index, err);
  }
}

function itemError(index: number, err: unknown): unknown {
  if (!(err instanceof ScaiVaultError)) return err;
  const field = err.code === "invalid_path" ? ".path" : "";
  return new ScaiVaultError(err.code, `items[${index}]${field}: ${err.message}`);
}

function checkItem(item: BatchPutItem, index: number, now: Date): CheckedItem {
  return forItem(index, () => {
    validateSecretPath(item.path);
    const data = requireData(item.data, "data");
    const secretType = validateSecretType(item.secretType);
    const opts = item.options ?? {};
    const maxVersions = validateMaxVersions(opts.maxVersions);
    if (opts.cas !== undefined && opts.cas < 0) throw new ScaiVaultError("invalid_request", "options.cas must be 0 or a version number");
    const expiresAt = resolveExpiry(opts, now);
    validateMetadata(item.metadata);
    return { index, path: item.path, data, secretType, maxVersions, expiresAt, cas: opts.cas, input: item };
  });
}

/** Checks the batch as a whole and each item on its own; throws before anything is written. */
function checkBatch(items: BatchPutItem[], maxItems: number, now: Date): CheckedItem[] {
  if (items.length === 0) throw new ScaiVaultError("invalid_request", "items must hold at least one item");
  if (items.length > maxItems) throw new ScaiVaultError("invalid_request", `items: at most ${maxItems} items per batch (SCAIVAULT_BATCH_PUT_MAX_ITEMS)`);
  const checked = items.map((item, i) => checkItem(item, i, now));
  const firstAt = new Map<string, number>();
  for (const item of checked) {
    const first = firstAt.get(item.path);
    if (first !== undefined) throw new ScaiVaultError("invalid_request", `items[${item.index}].path: the path of items[${first}] again; a path may appear once per batch`);
    firstAt.set(item.path, item.index);
  }
  return checked;
}

/** Writes every item in one transaction, or none; the results are in the order of the items. */
export async function batchPut(deps: SecretsServiceDeps, call: CallContext, items: BatchPutItem[]): Promise<BatchPutResult[]> {
  const { db, envelope, clock, cache } = deps;
  const ownerId = call.tenantId;
  const now = clock.now();
  const checked = checkBatch(items, deps.batchPutMaxItems, now);
  await envelope.prepareTenant(ownerId);
  try {
    return await inTransaction(db, (tx) => writeBatch(deps, tx, call, checked, now));
  } finally {
    for (const item of checked) cache.invalidatePath(ownerId, item.path);
  }
}

async function writeBatch(deps: SecretsServiceDeps, tx: Tx, call: CallContext, items: CheckedItem[], now: Date): Promise<BatchPutResult[]> {
  const ownerId = call.tenantId;
  await requirePolicies(deps, tx, ownerId, items);
  const { created, existing } = await lockOrCreate(tx, ownerId, items, now);
  const updates = items.filter((item) => !created.has(item.path));
  for (const item of updates) forItem(item.index, () => checkStoredForWrite(existing.get(item.path)!, item.cas));
  const advanced = await batchStore.advanceSecrets(tx, updates.map((item) => changeOf(existing.get(item.path)!, item)), now);
  const written = new Map<string, SecretRow>([...created, ...advanced.map((row): [string, SecretRow] => [row.path, row])]);

  const actor = call.principal.subject;
  const versions = await Promise.all(
    items.map(async (item) => {
      const secret = written.get(item.path)!;
      const aad = secretAad(ownerId, item.path, secret.current_version);
      return { secretId: Number(secret.id), version: secret.current_version, sealed: await deps.envelope.encrypt(tx, ownerId, aad, serializeData(item.data)) };
    }),
  );
  await batchStore.insertVersions(tx, versions, actor, now);
  await batchStore.pruneSecrets(tx, advanced.map((row) => ({ id: Number(row.id), keep: row.max_versions })));
  for (const item of items) {
    const policyId = item.input.options?.rotationPolicyId;
    if (policyId) await deps.rotation.assign(tx, ownerId, policyId, written.get(item.path)!, now);
  }
  await completeRotations(deps, tx, ownerId, updates.map((item) => ({ before: existing.get(item.path)!, after: written.get(item.path)! })), actor, now);

  // The events and the audit entries in one statement.
  await appendEventsWith(
    tx,
    items.map((item) => {
      const secret = written.get(item.path)!;
      const eventType = created.has(item.path) ? "secret.created" : "secret.updated";
      return { tenantId: ownerId, eventType, path: item.path, data: { version: secret.current_version, secret_type: secret.secret_type }, createdAt: now };
    }),
    auditInsert(items.map((item) => auditEntryOf(call, now, "allowed", { path: item.path, version: written.get(item.path)!.current_version }))),
  );
  return items.map((item) => resultOf(item, written.get(item.path)!, existing.get(item.path), now));
}

/** Checks the rotation and secret policies the items name, each once. */
async function requirePolicies(deps: SecretsServiceDeps, tx: Tx, ownerId: string, items: CheckedItem[]) {
  const rotationPolicies = new Map<string, number>();
  const secretPolicies = new Map<string, number>();
  for (const item of items) {
    const opts = item.input.options ?? {};
    if (opts.rotationPolicyId && !rotationPolicies.has(opts.rotationPolicyId)) rotationPolicies.set(opts.rotationPolicyId, item.index);
    if (opts.secretPolicyId && !secretPolicies.has(opts.secretPolicyId)) secretPolicies.set(opts.secretPolicyId, item.index);
  }
  for (const [id, index] of rotationPolicies) await deps.rotation.requirePolicy(tx, ownerId, id).catch((err: unknown) => Promise.reject(itemError(index, err)));
  for (const [id, index] of secretPolicies) await deps.rotation.requireSecretPolicy(tx, ownerId, id).catch((err: unknown) => Promise.reject(itemError(index, err)));
}

/**
 * Locks the secrets that exist and creates the others (version 1). A path another writer creates
 * meanwhile is locked and treated as an update, as a single write does.
 */
async function lockOrCreate(tx: Tx, ownerId: string, items: CheckedItem[], now: Date) {
  const existing = new Map((await batchStore.lockSecrets(tx, ownerId, items.map((i) => i.path))).map((row) => [row.path, row]));
  const missing = items.filter((item) => !existing.has(item.path));
  for (const item of missing) if (item.cas !== undefined && item.cas !== 0) throw itemError(item.index, versionConflict());
  const inserted = await batchStore.insertSecrets(tx, ownerId, missing.map(newSecretOf), now);
  const created = new Map(inserted.map((row) => [row.path, row]));
  const raced = missing.filter((item) => !created.has(item.path));
  for (const row of await batchStore.lockSecrets(tx, ownerId, raced.map((i) => i.path))) existing.set(row.path, row);
  for (const item of raced) if (!existing.has(item.path)) throw itemError(item.index, new ScaiVaultError("version_conflict", "concurrent write; refetch and retry"));
  return { created, existing };
}

function newSecretOf(item: CheckedItem): batchStore.NewSecret {
  const m = item.input.metadata;
  const opts = item.input.options ?? {};
  return {
    path: item.path,
    secretType: item.secretType ?? "kv",
    description: m?.description ?? null,
    tags: dedupe(m?.tags ?? []),
    owner: m?.owner ?? null,
    maxVersions: item.maxVersions ?? DEFAULT_MAX_VERSIONS,
    expiresAt: item.expiresAt ?? null,
    rotationPolicyId: opts.rotationPolicyId ?? null,
    secretPolicyId: opts.secretPolicyId ?? null,
  };
}

function changeOf(secret: SecretRow, item: CheckedItem): batchStore.SecretChange {
  const m = item.input.metadata;
  const opts = item.input.options ?? {};
  return {
    id: Number(secret.id),
    secretType: item.secretType ?? null,
    description: m?.description ?? null,
    tags: m?.tags !== undefined ? dedupe(m.tags) : null,
    owner: m?.owner ?? null,
    maxVersions: item.maxVersions ?? null,
    expiresAt: item.expiresAt ?? null,
    rotationPolicyId: opts.rotationPolicyId || null,
    secretPolicyId: opts.secretPolicyId || null,
  };
}

/** Completes the pending event-driven rotations the new versions answer; the replaced versions keep their grace period only. */
async function completeRotations(deps: SecretsServiceDeps, tx: Tx, ownerId: string, updated: { before: SecretRow; after: SecretRow }[], actor: string, now: Date) {
  if (updated.length === 0) return;
  const changes = updated.map(({ before, after }) => ({ secretId: Number(after.id), oldVersion: before.current_version, newVersion: after.current_version, now, actor }));
  const graces = await deps.rotation.versionsWritten(tx, ownerId, changes);
  await batchStore.setVersionsReadableUntil(
    tx,
    changes.filter((c) => graces.has(c.secretId)).map((c) => ({ secretId: c.secretId, version: c.oldVersion, until: new Date(now.getTime() + graces.get(c.secretId)! * 1000) })),
  );
}

function resultOf(item: CheckedItem, secret: SecretRow, before: SecretRow | undefined, now: Date): BatchPutResult {
  return {
    path: item.path,
    secretType: secret.secret_type,
    version: secret.current_version,
    created: before === undefined,
    createdAt: secret.created_at,
    updatedAt: now,
    expiresAt: secret.expires_at,
    previousVersion: before?.current_version,
  };
}
