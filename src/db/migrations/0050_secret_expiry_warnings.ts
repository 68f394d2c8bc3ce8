// Frozen: this migration imports nothing from the app, so it means the same thing forever.
import { sql, type Kysely } from "kysely";

/**
 * `secret.expiring` warnings, each recorded once per secret, per expiry and per threshold. The
 * primary key is what keeps several replicas from sending one warning twice: the one whose insert
 * lands sends it, in the same transaction; the others' inserts do nothing. The expiry is part of
 * the key, so a secret whose `expires_at` changes gets the warnings of its new expiry.
 * - Rows go with their secret when it is purged, and once their expiry has passed
 *   (`secret_expiry_warnings_expires` serves that purge).
 * - `secrets_expiry_due` serves the job's search across tenants for live secrets expiring soon
 *   (the existing `secrets_expiry` index leads with the tenant).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table secret_expiry_warnings (
      secret_id bigint not null references secrets (id) on delete cascade,
      expires_at timestamptz not null,
      threshold_seconds integer not null,
      recorded_at timestamptz not null,
      primary key (secret_id, expires_at, threshold_seconds)
    );
    create index secret_expiry_warnings_expires on secret_expiry_warnings (expires_at);
    create index secrets_expiry_due on secrets (expires_at, id) where expires_at is not null and deleted_at is null;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop index secrets_expiry_due;
    drop table secret_expiry_warnings;
  `.execute(db);
}
