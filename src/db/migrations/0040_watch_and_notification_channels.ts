// Frozen: this migration imports nothing from the app, so it means the same thing forever.
import { sql, type Kysely } from "kysely";

/**
 * Watch streams and notification channels.
 * - Every committed outbox event notifies `scaivault_events` with its tenant id, so each replica's
 *   watch hub reads the tenant's new events (PostgreSQL folds repeated notices of one transaction).
 * - Watchers read a tenant's events in `seq` order: `events_tenant_seq` serves that.
 * - Notification channels (email, Slack), their delivery queue and attempt log, beside the
 *   webhooks'. A Slack URL is stored sealed under the tenant's data key, like a webhook secret.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create index events_tenant_seq on events (tenant_id, seq);

    create function scaivault_notify_event() returns trigger language plpgsql as $$
    begin
      perform pg_notify('scaivault_events', new.tenant_id);
      return null;
    end
    $$;

    create trigger events_notify after insert on events
      for each row execute function scaivault_notify_event();

    create table notification_channels (
      tenant_id text not null,
      id text not null,
      name text not null,
      type text not null,
      recipients text[] not null default '{}',
      url_key_id integer,
      url_nonce bytea,
      url_ciphertext bytea,
      events text[] not null default '{}',
      policy_ids text[] not null default '{}',
      is_active boolean not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (tenant_id, id)
    );

    create table notification_deliveries (
      id bigint generated always as identity primary key,
      tenant_id text not null,
      channel_id text not null,
      event_id text not null,
      state text not null,
      attempts integer not null,
      next_attempt_at timestamptz not null,
      claimed_until timestamptz,
      created_at timestamptz not null,
      unique (channel_id, tenant_id, event_id)
    );
    create index notification_deliveries_due on notification_deliveries (next_attempt_at) where state = 'pending';

    create table notification_attempts (
      id bigint generated always as identity primary key,
      delivery_id bigint not null,
      tenant_id text not null,
      channel_id text not null,
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
    create index notification_attempts_channel on notification_attempts (tenant_id, channel_id, id desc);
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop table notification_attempts;
    drop table notification_deliveries;
    drop table notification_channels;
    drop trigger events_notify on events;
    drop function scaivault_notify_event();
    drop index events_tenant_seq;
  `.execute(db);
}
