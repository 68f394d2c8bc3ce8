/**
 * Seeds `count` secrets (one encrypted version each) assigned to an auto-generating policy and
 * already due, straight into PostgreSQL in batches: the API would take minutes for 100,000.
 * argv: tenant count. Env: DATABASE_URL, SCAIVAULT_MASTER_KEY.
 */
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { createEnvelope, secretAad } from "../src/crypto/envelope.js";
import { masterKeyFromBytes } from "../src/crypto/master-key.js";
import { connectPostgres } from "../src/db/database.js";

const [tenant, countText] = process.argv.slice(2);
const count = Number(countText);
const { db, close } = connectPostgres(process.env.DATABASE_URL!, { poolSize: 2 });
const envelope = createEnvelope(masterKeyFromBytes(Buffer.from(process.env.SCAIVAULT_MASTER_KEY!, "base64")), db);
await envelope.prepareTenant(tenant!);
const now = new Date();
const due = new Date(now.getTime() - 60_000);
await db
  .insertInto("rotation_policies")
  .values({
    tenant_id: tenant!,
    id: "rot_bench",
    name: "bench",
    description: null,
    interval: "90d",
    interval_seconds: 90 * 86400,
    grace_period: "48h",
    grace_period_seconds: 48 * 3600,
    warn_before: null,
    warn_before_seconds: [],
    auto_generate: true,
    secret_policy_id: null,
    webhook_ids: [],
    is_active: true,
    created_at: now,
    updated_at: now,
  })
  .execute();
for (let start = 0; start < count; start += 1000) {
  const n = Math.min(1000, count - start);
  const paths = Array.from({ length: n }, (_, i) => `rotate/s${start + i}`);
  const secrets = await db
    .insertInto("secrets")
    .values(
      paths.map((path) => ({
        tenant_id: tenant!,
        path,
        secret_type: "kv",
        description: null,
        tags: [],
        owner: null,
        max_versions: 10,
        expires_at: null,
        rotation_policy_id: "rot_bench",
        secret_policy_id: null,
        current_version: 1,
        created_at: now,
        updated_at: now,
      })),
    )
    .returning(["id", "path"])
    .execute();
  const versions = [];
  for (const s of secrets) {
    const sealed = await envelope.encrypt(db, tenant!, secretAad(tenant!, s.path, 1), Buffer.from(JSON.stringify({ password: randomBytes(12).toString("hex") })));
    versions.push({ secret_id: s.id, version: 1, key_id: sealed.keyId, nonce: sealed.nonce, ciphertext: sealed.ciphertext, created_at: now, created_by: "bench", readable_until: null });
  }
  await db.insertInto("secret_versions").values(versions).execute();
  await db
    .insertInto("rotation_assignments")
    .values(secrets.map((s) => ({ tenant_id: tenant!, policy_id: "rot_bench", secret_id: s.id, secret_path: s.path, assigned_at: due, last_rotated_at: null, next_rotation_at: due, cycle: 0, warned: [], attempts: 0, retry_at: null, claimed_until: null })))
    .execute();
}
await sql`analyze`.execute(db);
await close();
process.stdout.write(JSON.stringify({ seeded: count }) + "\n");
