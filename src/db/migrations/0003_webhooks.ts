// Frozen: this migration imports nothing from the app, so it means the same thing forever.
import { sql, type Kysely } from "kysely";

// The fan-out marker of the outbox: an event is copied into per-webhook deliveries exactly once,
// in the transaction that sets `dispatched_at`. Events written before webhooks existed predate
// every webhook and are marked as dispatched.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table events add column dispatched_at timestamptz;
    update events set dispatched_at = created_at;
    create index events_undispatched on events (seq) where dispatched_at is null;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop index events_undispatched;
    alter table events drop column dispatched_at;
  `.execute(db);
}
