import type { Envelope } from "../crypto/envelope.js";
import type { Executor } from "../db/database.js";

/** Additional authenticated data of a binding's provider credentials: tenant, path and purpose, so sealed credentials moved to another row fail to open. */
export function credentialsAad(tenantId: string, path: string): Buffer {
  return Buffer.from(JSON.stringify(["scaivault.rotation-credentials.v1", tenantId, path, "provider-credentials"]));
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
