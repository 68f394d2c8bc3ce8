// Frozen: this migration imports nothing from the app, so it means the same thing forever.
import { sql, type Kysely } from "kysely";

/**
 * Provider rotation for the bad day. A run remembers whether it is an emergency rotation, the
 * operator's reason and the grace period the rotate call asked for (which overrides the
 * binding's for that run), and the secret's `expires_at` before promote, so a rollback restores
 * the previous credential's own expiry. A binding may carry its own schedule (an interval, or a
 * cron `schedule` in a `timezone` with a `rotation_window`) instead of a rotation policy; its
 * planning state (next rotation, the window, the cycle that fences a scheduled start) lives on
 * the binding row.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table rotation_runs
      add column emergency boolean not null default false,
      add column reason text,
      add column grace_seconds integer,
      add column old_expires_at timestamptz;

    alter table secret_rotations
      add column interval text,
      add column interval_seconds integer,
      add column schedule text,
      add column timezone text,
      add column rotation_window text,
      add column rotation_window_seconds integer,
      add column next_rotation_at timestamptz,
      add column window_closes_at timestamptz,
      add column schedule_cycle integer not null default 0;

    create index secret_rotations_next_rotation on secret_rotations (next_rotation_at) where next_rotation_at is not null;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop index secret_rotations_next_rotation;
    alter table secret_rotations
      drop column interval, drop column interval_seconds, drop column schedule, drop column timezone,
      drop column rotation_window, drop column rotation_window_seconds, drop column next_rotation_at,
      drop column window_closes_at, drop column schedule_cycle;
    alter table rotation_runs drop column emergency, drop column reason, drop column grace_seconds, drop column old_expires_at;
  `.execute(db);
}
