// Frozen: this migration imports nothing from the app, so it means the same thing forever.
import { sql, type Kysely } from "kysely";

/**
 * A provider run can carry the new value an operator supplied (`new_value` of a manual rotate,
 * e.g. a Stripe key rolled in the Dashboard) until its create step stores it as the pending
 * version: sealed under the tenant's data key, like a binding's credentials, and cleared as soon
 * as the create step (or the run) ends.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table rotation_runs
      add column supplied_key_id integer,
      add column supplied_nonce bytea,
      add column supplied_ciphertext bytea;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    alter table rotation_runs
      drop column supplied_key_id,
      drop column supplied_nonce,
      drop column supplied_ciphertext;
  `.execute(db);
}
