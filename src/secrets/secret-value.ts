import type { JsonObject } from "@bufbuild/protobuf";
import { secretAad, type Envelope } from "../crypto/envelope.js";
import type { Executor } from "../db/database.js";
import type { SecretRow, VersionRow } from "./secrets-store.js";

/** Decrypts one version row of a secret into its data; the AAD ties it to the secret's tenant, path and version. */
export async function openSecretValue(envelope: Envelope, exec: Executor, secret: SecretRow, row: VersionRow): Promise<JsonObject> {
  const plain = await envelope.decrypt(exec, secret.tenant_id, secretAad(secret.tenant_id, secret.path, row.version), {
    keyId: row.key_id,
    nonce: row.nonce,
    ciphertext: row.ciphertext,
  });
  return JSON.parse(plain.toString("utf8")) as JsonObject;
}
