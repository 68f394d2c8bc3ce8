// Frozen: this migration imports nothing from the app, so it means the same thing forever.
import { sql, type Kysely } from "kysely";

/**
 * Rotation policies can run on a cron schedule (in a time zone, with an optional rotation window)
 * instead of an interval, so `interval` becomes optional and one of the two is required.
 * Assignments remember the window their next rotation falls in: `next_rotation_at` stays the
 * moment the scheduler acts (a start spread inside the window), so its claim query and index
 * are unchanged; the window's opening is what warnings count back from, and its close is when a
 * rotation that has not happened gives up and waits for the next window.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table rotation_policies
      alter column interval drop not null,
      alter column interval_seconds drop not null,
      add column schedule text,
      add column timezone text,
      add column rotation_window text,
      add column rotation_window_seconds integer,
      add constraint rotation_policies_interval_or_schedule check ((interval is null) <> (schedule is null));

    alter table rotation_assignments
      add column window_opens_at timestamptz,
      add column window_closes_at timestamptz;
  `.execute(db);
}

/** Drops the columns again (only possible while every policy still has an interval). */
export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    alter table rotation_assignments drop column window_opens_at, drop column window_closes_at;
    alter table rotation_policies
      drop constraint rotation_policies_interval_or_schedule,
      drop column schedule, drop column timezone, drop column rotation_window, drop column rotation_window_seconds,
      alter column interval set not null,
      alter column interval_seconds set not null;
  `.execute(db);
}
