// Frozen: this migration imports nothing from the app, so it means the same thing forever.
import { sql, type Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table data_keys (
      tenant_id text not null,
      key_id integer not null,
      wrapped_key bytea not null,
      master_key_id text not null,
      created_at timestamptz not null default now(),
      primary key (tenant_id, key_id)
    );

    create table secrets (
      id bigint generated always as identity primary key,
      tenant_id text not null,
      path text not null,
      secret_type text not null default 'kv',
      description text,
      tags text[] not null default '{}',
      owner text,
      max_versions integer not null default 10,
      expires_at timestamptz,
      rotation_policy_id text,
      secret_policy_id text,
      current_version integer not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      deleted_at timestamptz,
      purge_after timestamptz,
      last_accessed_at timestamptz,
      unique (tenant_id, path)
    );
    create index secrets_tenant_path_live on secrets (tenant_id, path) where deleted_at is null;
    create index secrets_purge on secrets (purge_after) where deleted_at is not null;
    create index secrets_expiry on secrets (tenant_id, expires_at) where expires_at is not null and deleted_at is null;
    create index secrets_tags on secrets using gin (tags);

    create table secret_versions (
      secret_id bigint not null references secrets (id) on delete cascade,
      version integer not null,
      key_id integer not null,
      nonce bytea not null,
      ciphertext bytea not null,
      created_at timestamptz not null,
      created_by text not null,
      readable_until timestamptz,
      primary key (secret_id, version)
    );

    create table secret_access_daily (
      secret_id bigint not null references secrets (id) on delete cascade,
      day date not null,
      count integer not null,
      primary key (secret_id, day)
    );

    create table tenant_partners (
      tenant_id text primary key,
      partner_id text not null,
      seen_at timestamptz not null
    );

    create table audit_events (
      id bigint generated always as identity primary key,
      time timestamptz not null,
      request_id text not null,
      actor text not null,
      acting_tenant text not null,
      target_tenant text not null,
      action text not null,
      path text,
      version integer,
      outcome text not null,
      client_address text
    );
    create index audit_events_target on audit_events (target_tenant, id desc);

    create table secret_policies (
      tenant_id text not null,
      id text not null,
      name text not null,
      description text,
      length integer not null,
      charset text not null,
      chars text,
      require_uppercase boolean not null,
      require_lowercase boolean not null,
      require_digits boolean not null,
      require_symbols boolean not null,
      exclude_chars text,
      fields text[] not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (tenant_id, id)
    );

    create table rotation_policies (
      tenant_id text not null,
      id text not null,
      name text not null,
      description text,
      interval text not null,
      interval_seconds integer not null,
      grace_period text not null,
      grace_period_seconds integer not null,
      warn_before text,
      auto_generate boolean not null,
      secret_policy_id text,
      webhook_ids text[] not null default '{}',
      is_active boolean not null default true,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (tenant_id, id)
    );

    create table rotation_assignments (
      tenant_id text not null,
      policy_id text not null,
      secret_id bigint not null references secrets (id) on delete cascade,
      secret_path text not null,
      assigned_at timestamptz not null,
      last_rotated_at timestamptz,
      next_rotation_at timestamptz not null,
      cycle integer not null default 0,
      warned integer[] not null default '{}',
      attempts integer not null default 0,
      retry_at timestamptz,
      claimed_until timestamptz,
      primary key (secret_id),
      foreign key (tenant_id, policy_id) references rotation_policies (tenant_id, id) on delete cascade
    );
    create index rotation_assignments_due on rotation_assignments (next_rotation_at);
    create index rotation_assignments_policy on rotation_assignments (tenant_id, policy_id);

    create table rotation_history (
      tenant_id text not null,
      id text not null,
      seq bigint generated always as identity,
      policy_id text,
      secret_id bigint,
      secret_path text not null,
      status text not null,
      old_version integer,
      new_version integer,
      rotated_at timestamptz not null,
      rotated_by text not null,
      reason text,
      error text,
      primary key (tenant_id, id)
    );
    create index rotation_history_policy on rotation_history (tenant_id, policy_id, seq desc);
    create index rotation_history_pending on rotation_history (secret_id) where status = 'pending';

    create table events (
      seq bigint generated always as identity primary key,
      id text not null unique,
      tenant_id text not null,
      event_type text not null,
      path text,
      policy_id text,
      data jsonb not null,
      created_at timestamptz not null
    );

    create table webhooks (
      tenant_id text not null,
      id text not null,
      name text not null,
      url text not null,
      events text[] not null,
      is_active boolean not null default true,
      secret_key_id integer not null,
      secret_nonce bytea not null,
      secret_ciphertext bytea not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (tenant_id, id)
    );

    create table webhook_deliveries (
      id bigint generated always as identity primary key,
      tenant_id text not null,
      webhook_id text not null,
      event_id text not null,
      state text not null,
      attempts integer not null default 0,
      next_attempt_at timestamptz not null,
      claimed_until timestamptz,
      created_at timestamptz not null,
      unique (webhook_id, tenant_id, event_id)
    );
    create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where state = 'pending';

    create table webhook_attempts (
      id bigint generated always as identity primary key,
      delivery_id bigint not null references webhook_deliveries (id) on delete cascade,
      tenant_id text not null,
      webhook_id text not null,
      event_id text not null,
      event_type text not null,
      attempt integer not null,
      attempted_at timestamptz not null,
      status_code integer,
      latency_ms integer not null,
      error text,
      next_retry_at timestamptz,
      state text not null
    );
    create index webhook_attempts_webhook on webhook_attempts (tenant_id, webhook_id, id desc);
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop table webhook_attempts; drop table webhook_deliveries; drop table webhooks; drop table events;
    drop table rotation_history; drop table rotation_assignments; drop table rotation_policies;
    drop table secret_policies; drop table audit_events; drop table tenant_partners; drop table secret_access_daily;
    drop table secret_versions; drop table secrets; drop table data_keys;
  `.execute(db);
}
