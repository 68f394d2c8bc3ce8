import { sql } from "kysely";
import type { Tx } from "../db/database.js";
import type { SealedValue } from "../crypto/envelope.js";
import { secretColumns, type SecretRow } from "./secrets-store.js";

// Set-based statements of a batch write: each one writes every item of the batch at once, so a
// batch of a thousand secrets costs a handful of round trips, not thousands.

/** Locks a tenant's secrets at these paths (deleted or not), in id order so concurrent batches never deadlock. */
export async function lockSecrets(tx: Tx, ownerId: string, paths: string[]): Promise<SecretRow[]> {
  if (paths.length === 0) return [];
  return tx.selectFrom("secrets").select(secretColumns).where("tenant_id", "=", ownerId).where("path", "in", paths).orderBy("id").forUpdate().execute();
}

/** A secret a batch creates, with version 1 as its current one. */
export interface NewSecret {
  path: string;
  secretType: string;
  description: string | null;
  tags: string[];
  owner: string | null;
  maxVersions: number;
  expiresAt: Date | null;
  rotationPolicyId: string | null;
  secretPolicyId: string | null;
}

/** Inserts the secrets that do not exist yet; those another writer created meanwhile are left out of the answer. */
export async function insertSecrets(tx: Tx, ownerId: string, rows: NewSecret[], now: Date): Promise<SecretRow[]> {
  if (rows.length === 0) return [];
  const json = rows.map((r) => ({
    path: r.path,
    secret_type: r.secretType,
    description: r.description,
    tags: r.tags,
    owner: r.owner,
    max_versions: r.maxVersions,
    expires_at: r.expiresAt,
    rotation_policy_id: r.rotationPolicyId,
    secret_policy_id: r.secretPolicyId,
  }));
  const { rows: inserted } = await sql<SecretRow>`
    insert into secrets (tenant_id, path, secret_type, description, tags, owner, max_versions, expires_at, rotation_policy_id, secret_policy_id, current_version, created_at, updated_at)
    select ${ownerId}, n.path, n.secret_type, n.description, array(select jsonb_array_elements_text(n.tags)), n.owner, n.max_versions, n.expires_at,
           n.rotation_policy_id, n.secret_policy_id, 1, ${now.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz
    from json_to_recordset(${JSON.stringify(json)}::json)
      as n(path text, secret_type text, description text, tags jsonb, owner text, max_versions int, expires_at timestamptz, rotation_policy_id text, secret_policy_id text)
    on conflict (tenant_id, path) do nothing
    returning ${sql.raw(secretColumns.join(", "))}`.execute(tx);
  return inserted;
}

/** What a batch item changes of an existing secret: null keeps the column as it is. */
export interface SecretChange {
  id: number;
  secretType: string | null;
  description: string | null;
  tags: string[] | null;
  owner: string | null;
  maxVersions: number | null;
  expiresAt: Date | null;
  rotationPolicyId: string | null;
  secretPolicyId: string | null;
}

/**
 * Makes each secret's next free version its current one, with the item's changes, in one
 * statement (numbers are never reused, as `advanceToNextVersion`); returns the updated rows.
 * Call it with the rows locked.
 */
export async function advanceSecrets(tx: Tx, changes: SecretChange[], now: Date): Promise<SecretRow[]> {
  if (changes.length === 0) return [];
  const { rows } = await sql<SecretRow>`
    update secrets s set
      current_version = (select coalesce(max(v.version), 0)::int + 1 from secret_versions v where v.secret_id = s.id),
      updated_at = ${now.toISOString()}::timestamptz,
      secret_type = coalesce(u."secretType", s.secret_type),
      description = coalesce(u.description, s.description),
      tags = case when u.tags is null or jsonb_typeof(u.tags) = 'null' then s.tags else array(select jsonb_array_elements_text(u.tags)) end,
      owner = coalesce(u.owner, s.owner),
      max_versions = coalesce(u."maxVersions", s.max_versions),
      expires_at = coalesce(u."expiresAt", s.expires_at),
      rotation_policy_id = coalesce(u."rotationPolicyId", s.rotation_policy_id),
      secret_policy_id = coalesce(u."secretPolicyId", s.secret_policy_id)
    from json_to_recordset(${JSON.stringify(changes)}::json)
      as u(id bigint, "secretType" text, description text, tags jsonb, owner text, "maxVersions" int, "expiresAt" timestamptz, "rotationPolicyId" text, "secretPolicyId" text)
    where s.id = u.id
    returning ${sql.raw(secretColumns.map((c) => `s.${c}`).join(", "))}`.execute(tx);
  return rows;
}

/** One sealed version of a batch. */
export interface BatchVersion {
  secretId: number;
  version: number;
  sealed: SealedValue;
}

/** Stores every version's ciphertext in one statement. */
export async function insertVersions(tx: Tx, versions: BatchVersion[], createdBy: string, now: Date): Promise<void> {
  if (versions.length === 0) return;
  const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
  await sql`
    insert into secret_versions (secret_id, version, key_id, nonce, ciphertext, created_at, created_by)
    select v.secret_id, v.version, v.key_id, decode(v.nonce, 'hex'), decode(v.ciphertext, 'hex'), ${now.toISOString()}::timestamptz, ${createdBy}
    from unnest(
      ${versions.map((v) => v.secretId)}::bigint[], ${versions.map((v) => v.version)}::int[], ${versions.map((v) => v.sealed.keyId)}::int[],
      ${versions.map((v) => hex(v.sealed.nonce))}::text[], ${versions.map((v) => hex(v.sealed.ciphertext))}::text[]
    ) as v(secret_id, version, key_id, nonce, ciphertext)`.execute(tx);
}

/** Destroys, for each secret, the versions beyond its newest `keep` (its max_versions), in one statement. */
export async function pruneSecrets(tx: Tx, secrets: { id: number; keep: number }[]): Promise<void> {
  if (secrets.length === 0) return;
  await sql`
    delete from secret_versions v
    using (
      select r.secret_id, r.version
      from (
        select secret_id, version, row_number() over (partition by secret_id order by version desc) as newest
        from secret_versions where secret_id = any(${secrets.map((s) => s.id)}::bigint[])
      ) r
      join unnest(${secrets.map((s) => s.id)}::bigint[], ${secrets.map((s) => s.keep)}::int[]) as k(secret_id, keep) on k.secret_id = r.secret_id
      where r.newest > k.keep
    ) beyond
    where v.secret_id = beyond.secret_id and v.version = beyond.version`.execute(tx);
}

/** Limits the readability of versions (the grace period of the rotations a batch completed). */
export async function setVersionsReadableUntil(tx: Tx, versions: { secretId: number; version: number; until: Date }[]): Promise<void> {
  if (versions.length === 0) return;
  await sql`
    update secret_versions v set readable_until = g.until
    from unnest(${versions.map((v) => v.secretId)}::bigint[], ${versions.map((v) => v.version)}::int[], ${versions.map((v) => v.until.toISOString())}::timestamptz[]) as g(secret_id, version, until)
    where v.secret_id = g.secret_id and v.version = g.version`.execute(tx);
}
