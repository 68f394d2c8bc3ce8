import type { Executor } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import { findSecret, type SecretRow } from "./secrets-store.js";

/** The secret at this owner's path unless it is soft-deleted, else `secret_not_found`; `forUpdate` locks its row. */
export async function liveSecret(exec: Executor, ownerId: string, path: string, forUpdate = false): Promise<SecretRow> {
  const row = await findSecret(exec, ownerId, path, forUpdate);
  if (!row || row.deleted_at) throw new ScaiVaultError("secret_not_found", "secret not found");
  return row;
}
