// Frozen: this migration imports nothing from the app, so it means the same thing forever.
import { sql, type Kysely } from "kysely";

/**
 * The service now always generates the `request_id` it audits; the `x-request-id` a client sent
 * is kept beside it for correlation, never as the audited id.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table audit_events add column client_request_id text`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table audit_events drop column client_request_id`.execute(db);
}
