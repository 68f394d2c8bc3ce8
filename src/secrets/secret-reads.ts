import { auditAllowed, auditEntryOf } from "../audit/call-audit.js";
import type { CallContext } from "../auth/principal.js";
import type { Executor } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import { decodeCursor, encodeCursor, pageLimit, pageOf } from "../pagination.js";
import { readSecretRows } from "./cached-secret-read.js";
import { liveSecret } from "./live-secret.js";
import { validateSecretType, type ListSecretsInput } from "./secret-input.js";
import { validateSecretPath } from "./secret-path.js";
import { openSecretValue } from "./secret-value.js";
import { ownerOf, type Namespace, type SecretsServiceDeps } from "./secrets-deps.js";
import * as store from "./secrets-store.js";
import { isReadable, versionState } from "./version-state.js";

// The secrets service's reads: a value (from cached ciphertext rows), metadata, listings and versions.

const DAY_MS = 86_400_000;

/** Reads the current version, or the one asked for: from cached ciphertext rows when it can, decrypted per read. */
export async function get(deps: SecretsServiceDeps, call: CallContext, ns: Namespace, path: string, version?: number, stage?: string) {
  const { db, envelope, clock, access, cache, auditWriter } = deps;
  validateSecretPath(path);
  const ownerId = await ownerOf(deps, call, ns);
  if (version !== undefined && (!Number.isInteger(version) || version < 1)) {
    throw new ScaiVaultError("version_not_found", `version ${version} not found`);
  }
  if (stage) {
    if (version !== undefined) throw new ScaiVaultError("invalid_request", "version and stage cannot be combined");
    if (stage !== "current") return getStage(deps, call, ownerId, path, stage);
  }
  const rows = await readSecretRows({ db, cache, stamps: deps.cachedRowChecks }, ownerId, path, version);
  if (!rows || rows.secret.deleted_at) throw new ScaiVaultError("secret_not_found", "secret not found");
  const { secret, row } = rows;
  const now = clock.now();
  if (secret.expires_at && secret.expires_at <= now) throw new ScaiVaultError("secret_expired", "secret expired");
  const v = version ?? secret.current_version;
  // A pending version is read by stage only; discarded and revoked ones not at all.
  // Deleted and destroyed versions (on their own or by delete_version_after) are not read either.
  if (!row || row.rotation_state !== null || !isReadable(secret, row, now)) {
    throw new ScaiVaultError("version_not_found", `version ${v} not found`);
  }
  const data = await openSecretValue(envelope, db, secret, row);
  // The value is returned only after its audit entry is durable (group-committed with other reads).
  await auditWriter.append(auditEntryOf(call, now, "allowed", { path, version: v }));
  access.record(secret.id);
  return { secret, version: v, data, createdAt: row.created_at };
}

/** Reads the `pending` or `previous` version, straight from the database (stage reads are rare). */
export async function getStage(deps: SecretsServiceDeps, call: CallContext, ownerId: string, path: string, stage: string) {
  const { db, envelope, clock, access, auditWriter } = deps;
  if (stage !== "pending" && stage !== "previous") throw new ScaiVaultError("invalid_request", "stage must be current, pending or previous");
  const secret = await liveSecret(db, ownerId, path);
  const now = clock.now();
  if (secret.expires_at && secret.expires_at <= now) throw new ScaiVaultError("secret_expired", "secret expired");
  const staged = stagesOf(await store.listVersions(db, secret.id), secret.current_version, now, secret).find((v) => v.stage === stage);
  if (!staged) throw new ScaiVaultError("version_not_found", `no ${stage} version`);
  const row = (await store.findVersion(db, secret.id, staged.version))!;
  const data = await openSecretValue(envelope, db, secret, row);
  await auditWriter.append(auditEntryOf(call, now, "allowed", { path, version: row.version }));
  access.record(secret.id);
  return { secret, version: row.version, data, createdAt: row.created_at };
}

/** What is known about a secret without its value. */
export async function describe(deps: SecretsServiceDeps, exec: Executor, ownerId: string, path: string) {
  const { clock, access, rotation } = deps;
  const secret = await liveSecret(exec, ownerId, path);
  const since = new Date(clock.now().getTime() - 30 * DAY_MS).toISOString().slice(0, 10);
  // Reads not yet flushed are taken before the query: a flush that commits meanwhile can make
  // this one answer count a read twice, but never miss one.
  const unflushed = access.pending(secret.id);
  const lastUnflushed = access.lastAccess(secret.id);
  const [versionCount, accessCount, lastFlushed, assignment] = await Promise.all([
    store.countVersions(exec, secret.id),
    store.accessCountSince(exec, secret.id, since),
    store.lastAccessedAt(exec, secret.id),
    rotation.assignmentOf(exec, secret.id),
  ]);
  return {
    secret,
    versionCount,
    accessCount30d: accessCount + unflushed,
    lastAccessedAt: lastUnflushed ?? lastFlushed,
    rotation: assignment,
  };
}

export async function metadata(deps: SecretsServiceDeps, call: CallContext, path: string) {
  const { db, clock } = deps;
  validateSecretPath(path);
  const result = await describe(deps, db, call.tenantId, path);
  await auditAllowed(db, clock, call, { path });
  return result;
}

/** Lists live secrets with the guide's filters; the cursor is the last path seen (keyset). */
export async function list(deps: SecretsServiceDeps, call: CallContext, input: ListSecretsInput) {
  const { db, clock } = deps;
  const limit = pageLimit(input.limit);
  if (input.secretType) validateSecretType(input.secretType);
  const query: store.SecretListQuery = {
    ownerId: call.tenantId,
    prefix: input.prefix || undefined,
    tags: input.tags,
    secretType: input.secretType || undefined,
    expiresBefore: input.expiresBefore,
    updatedAfter: input.updatedAfter,
    includeExpired: input.includeExpired,
    now: clock.now(),
    afterPath: input.cursor ? String(decodeCursor(input.cursor, "after")) : undefined,
    limit,
  };
  const [rows, total] = await Promise.all([store.listSecretsPage(db, query), store.countSecretsUpTo(db, query, deps.listCountLimit)]);
  const page = pageOf(rows, limit, (last) => encodeCursor("after", last.path));
  const details = input.includeMetadata ? await Promise.all(page.rows.map((r) => describe(deps, db, call.tenantId, r.path))) : undefined;
  await auditAllowed(db, clock, call, { path: input.prefix });
  return { ...page, details, totalCount: total.count, totalCountExact: total.exact };
}

export async function versions(deps: SecretsServiceDeps, call: CallContext, path: string) {
  const { db, clock } = deps;
  validateSecretPath(path);
  const secret = await liveSecret(db, call.tenantId, path);
  const now = clock.now();
  const rows = stagesOf(await store.listVersions(db, secret.id), secret.current_version, now, secret);
  await auditAllowed(db, clock, call, { path });
  return { secret, versions: rows.map((v) => ({ ...v, isCurrent: v.version === secret.current_version })) };
}

export async function expiring(deps: SecretsServiceDeps, call: CallContext, days = 30) {
  const { db, clock } = deps;
  if (!Number.isInteger(days) || days < 1 || days > 3650) throw new ScaiVaultError("invalid_request", "days must be from 1 to 3650");
  const now = clock.now();
  const rows = await store.listExpiring(db, call.tenantId, now, new Date(now.getTime() + days * DAY_MS));
  await auditAllowed(db, clock, call);
  return rows.map((r) => ({
    path: r.path,
    expiresAt: r.expires_at!,
    daysRemaining: Math.ceil((r.expires_at!.getTime() - now.getTime()) / DAY_MS),
  }));
}


/**
 * The API's stage of each version: `pending` (a provider rotation's, not yet promoted), `current`,
 * `previous` (the newest readable one before current), `deprecated`, `deleted` (on its own or by
 * the secret's delete_version_after) or `destroyed`; discarded, revoked and past-grace versions
 * are left out.
 */
export function stagesOf<T extends { version: number; created_at: Date; readable_until: Date | null; rotation_state: string | null; deleted_at?: Date | null; destroyed_at?: Date | null }>(
  rows: T[],
  currentVersion: number,
  now: Date,
  secret: { delete_version_after_seconds?: number | null } = {},
) {
  const withState = rows.map((v) => ({ v, state: versionState(secret, v, now) }));
  const removedOnItsOwn = (v: T, state: { deletedAt: Date | null; destroyed: boolean }) => state.destroyed || v.deleted_at || (state.deletedAt && v.readable_until?.getTime() !== state.deletedAt.getTime());
  const visible = withState.filter(({ v, state }) => v.rotation_state === "pending" || (v.rotation_state === null && (state.deletedAt === null || removedOnItsOwn(v, state))));
  const previous = visible.find(({ v, state }) => v.rotation_state === null && state.deletedAt === null && v.version < currentVersion)?.v;
  return visible.map(({ v, state }) => ({
    ...v,
    deletedAt: state.deletedAt,
    destroyed: state.destroyed,
    stage:
      v.rotation_state === "pending"
        ? "pending"
        : state.destroyed
          ? "destroyed"
          : state.deletedAt
            ? "deleted"
            : v.version === currentVersion
              ? "current"
              : v === previous
                ? "previous"
                : "deprecated",
  }));
}
