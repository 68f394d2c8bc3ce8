import { auditAllowed } from "../audit/call-audit.js";
import type { CallContext } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import type { Db } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import { validateSecretPath } from "../secrets/secret-path.js";
import { listChildNames } from "../secrets/secret-tree.js";
import * as store from "../secrets/secrets-store.js";
import { versionState } from "../secrets/version-state.js";

export interface VaultKvServiceDeps {
  db: Db;
  clock: Clock;
}

/** One version as Vault's metadata shows it. */
export interface VaultVersionView {
  version: number;
  createdAt: Date;
  /** When it stopped being readable (deleted, destroyed, past delete_version_after or a rotation's grace period), or null. */
  deletedAt: Date | null;
  destroyed: boolean;
}

/**
 * The read-side use cases only the Vault dialect asks in this shape: a folder's names, and a
 * secret's versions. Writes go through the secrets service like every other API's.
 */
export function createVaultKvService(deps: VaultKvServiceDeps) {
  const { db, clock } = deps;

  /** The names one level below `prefix`; Vault answers an empty folder with a 404. */
  async function listKeys(call: CallContext, prefix: string): Promise<string[]> {
    if (prefix !== "") validateSecretPath(prefix.slice(0, -1));
    const keys = await listChildNames(db, call.tenantId, prefix, clock.now());
    await auditAllowed(db, clock, call, { path: prefix || undefined });
    if (keys.length === 0) throw new ScaiVaultError("not_found", "no secrets below this path");
    return keys;
  }

  /** A live secret and its versions, oldest first; a provider rotation's pending or discarded versions are not Vault versions. */
  async function metadataOf(call: CallContext, path: string) {
    validateSecretPath(path);
    const secret = await store.findSecret(db, call.tenantId, path);
    if (!secret || secret.deleted_at) throw new ScaiVaultError("secret_not_found", "secret not found");
    const now = clock.now();
    const versions: VaultVersionView[] = (await store.listVersions(db, secret.id))
      .filter((v) => v.rotation_state === null)
      .map((v) => ({ version: v.version, createdAt: v.created_at, ...versionState(secret, v, now) }))
      .reverse();
    await auditAllowed(db, clock, call, { path });
    return { secret, versions };
  }

  return { listKeys, metadataOf };
}

export type VaultKvService = ReturnType<typeof createVaultKvService>;
