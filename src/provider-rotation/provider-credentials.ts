import type { Envelope } from "../crypto/envelope.js";
import type { Executor } from "../db/database.js";

/** Additional authenticated data of a binding's provider credentials: tenant, path and purpose, so sealed credentials moved to another row fail to open. */
export function credentialsAad(tenantId: string, path: string): Buffer {
  return Buffer.from(JSON.stringify(["scaivault.rotation-credentials.v1", tenantId, path, "provider-credentials"]));
}

/** Additional authenticated data of an operator-supplied new value waiting in a run (tenant, path and purpose). */
export function suppliedValueAad(tenantId: string, path: string): Buffer {
  return Buffer.from(JSON.stringify(["scaivault.rotation-supplied.v1", tenantId, path, "supplied-value"]));
}

/** The sealed columns of a run's supplied value. */
export interface SealedSupplied {
  supplied_key_id: number | null;
  supplied_nonce: Uint8Array | null;
  supplied_ciphertext: Uint8Array | null;
}

/** The columns that clear a run's supplied value. */
export const noSuppliedValue: SealedSupplied = { supplied_key_id: null, supplied_nonce: null, supplied_ciphertext: null };

/** Seals the operator's new value for a run (the tenant must be prepared). */
export async function sealSupplied(envelope: Envelope, exec: Executor, tenantId: string, path: string, value: unknown): Promise<SealedSupplied> {
  const sealed = await envelope.encrypt(exec, tenantId, suppliedValueAad(tenantId, path), Buffer.from(JSON.stringify(value), "utf8"));
  return { supplied_key_id: sealed.keyId, supplied_nonce: sealed.nonce, supplied_ciphertext: sealed.ciphertext };
}

/** Opens a run's supplied value; undefined when it carries none. */
export async function openSupplied(envelope: Envelope, exec: Executor, tenantId: string, path: string, row: SealedSupplied): Promise<unknown> {
  if (row.supplied_key_id === null || !row.supplied_nonce || !row.supplied_ciphertext) return undefined;
  const plain = await envelope.decrypt(exec, tenantId, suppliedValueAad(tenantId, path), { keyId: row.supplied_key_id, nonce: row.supplied_nonce, ciphertext: row.supplied_ciphertext });
  return JSON.parse(plain.toString("utf8")) as unknown;
}

/** The sealed columns of a binding's credentials. */
export interface SealedCredentials {
  credentials_key_id: number | null;
  credentials_nonce: Uint8Array | null;
  credentials_ciphertext: Uint8Array | null;
}

/** Seals provider credentials under the tenant's data key (the tenant must be prepared). */
export async function sealCredentials(envelope: Envelope, exec: Executor, tenantId: string, path: string, credentials: Record<string, unknown>): Promise<SealedCredentials> {
  const sealed = await envelope.encrypt(exec, tenantId, credentialsAad(tenantId, path), Buffer.from(JSON.stringify(credentials), "utf8"));
  return { credentials_key_id: sealed.keyId, credentials_nonce: sealed.nonce, credentials_ciphertext: sealed.ciphertext };
}

/** Opens a binding's credentials; undefined when none were stored. */
export async function openCredentials(envelope: Envelope, exec: Executor, tenantId: string, path: string, row: SealedCredentials): Promise<Record<string, unknown> | undefined> {
  if (row.credentials_key_id === null || !row.credentials_nonce || !row.credentials_ciphertext) return undefined;
  const plain = await envelope.decrypt(exec, tenantId, credentialsAad(tenantId, path), {
    keyId: row.credentials_key_id,
    nonce: row.credentials_nonce,
    ciphertext: row.credentials_ciphertext,
  });
  return JSON.parse(plain.toString("utf8")) as Record<string, unknown>;
}
