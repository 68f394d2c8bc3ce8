// Frozen: this migration imports nothing from the app, so it means the same thing forever.
import { sql, type Kysely } from "kysely";

/**
 * What a provider said about a credential it issued (the custom webhook's `metadata`, a string
 * map of bounded size): kept on the version it became and on the run that issued it. Not a
 * value: it is stored in the clear and shown by the API.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table secret_versions add column provider_metadata jsonb;
    alter table rotation_runs add column new_metadata jsonb;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    alter table rotation_runs drop column new_metadata;
    alter table secret_versions drop column provider_metadata;
  `.execute(db);
}
