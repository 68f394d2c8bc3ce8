// Frozen: this migration imports nothing from the app, so it means the same thing forever.
import { sql, type Kysely } from "kysely";

/**
 * Provider rotation: a secret's binding to the system that issues its credential
 * (`secret_rotations`, credentials sealed like a secret value), each rotation of it as a
 * persisted state machine (`rotation_runs`), and the rotation state of a version
 * (`secret_versions.rotation_state`: `pending` while a run has not promoted it, `discarded` when
 * the run failed before promote, `revoked` once its credential was revoked), from which the
 * API's version stages are derived.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table secret_versions add column rotation_state text;

    create table secret_rotations (
      tenant_id text not null,
      secret_id bigint not null references secrets (id) on delete cascade,
      path text not null,
      provider text not null,
      config jsonb not null default '{}',
      credentials_key_id integer,
      credentials_nonce bytea,
      credentials_ciphertext bytea,
      policy_id text,
      grace_period text,
      grace_period_seconds integer,
      propagation_check jsonb,
      max_attempts integer not null default 3,
      status text not null default 'active',
      paused_at timestamptz,
      last_rotated_at timestamptz,
      last_run_id text,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (secret_id)
    );
    create unique index secret_rotations_path on secret_rotations (tenant_id, path);
    create index secret_rotations_status on secret_rotations (tenant_id, status, path);

    create table rotation_runs (
      seq bigint generated always as identity,
      tenant_id text not null,
      id text not null primary key,
      secret_id bigint not null references secrets (id) on delete cascade,
      path text not null,
      provider text not null,
      policy_id text,
      triggered_by text not null,
      actor text not null,
      status text not null,
      step text not null,
      attempts integer not null default 0,
      old_version integer,
      new_version integer,
      new_expires_at timestamptz,
      revoke_at timestamptz,
      provider_response text,
      error text,
      steps jsonb not null default '[]',
      started_at timestamptz not null,
      finished_at timestamptz,
      next_attempt_at timestamptz not null,
      claimed_until timestamptz,
      fence integer not null default 0
    );
    create index rotation_runs_secret on rotation_runs (secret_id, seq desc);
    create index rotation_runs_open on rotation_runs (next_attempt_at) where status in ('running', 'waiting_grace');
    -- At most one unfinished run per secret: a second trigger joins the open one instead.
    create unique index rotation_runs_one_open on rotation_runs (secret_id) where status in ('running', 'waiting_grace');
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop table rotation_runs;
    drop table secret_rotations;
    alter table secret_versions drop column rotation_state;
  `.execute(db);
}
