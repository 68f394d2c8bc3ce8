// Frozen: this migration imports nothing from the app, so it means the same thing forever.
import { sql, type Kysely } from "kysely";

/**
 * What Vault's KV v2 has and the secret model lacked, as part of the model itself (the native API
 * shows it too): a secret's `custom_metadata` (a string map), `cas_required` (every write must
 * name the version it replaces) and `delete_version_after` (a version stops being readable that
 * long after it was written); a version's own soft delete (`deleted_at`, undone by undelete) and
 * destruction (`destroyed_at`: its ciphertext is wiped, the row stays so its history does).
 * The change notice now also covers the new secret columns, so replicas drop cached rows.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table secrets
      add column custom_metadata jsonb not null default '{}'::jsonb,
      add column cas_required boolean not null default false,
      add column delete_version_after_seconds integer;
    alter table secret_versions
      add column deleted_at timestamptz,
      add column destroyed_at timestamptz;
    drop trigger secrets_changed on secrets;
    create trigger secrets_changed
      after update of path, secret_type, description, tags, owner, max_versions, expires_at,
        rotation_policy_id, secret_policy_id, current_version, deleted_at, purge_after,
        custom_metadata, cas_required, delete_version_after_seconds
      or delete on secrets
      for each row execute function scaivault_notify_secret_change();
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop trigger secrets_changed on secrets;
    create trigger secrets_changed
      after update of path, secret_type, description, tags, owner, max_versions, expires_at,
        rotation_policy_id, secret_policy_id, current_version, deleted_at, purge_after
      or delete on secrets
      for each row execute function scaivault_notify_secret_change();
    alter table secret_versions drop column deleted_at, drop column destroyed_at;
    alter table secrets drop column custom_metadata, drop column cas_required, drop column delete_version_after_seconds;
  `.execute(db);
}
