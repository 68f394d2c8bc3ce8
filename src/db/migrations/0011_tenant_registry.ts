// Frozen: this migration imports nothing from the app, so it means the same thing forever.
import { sql, type Kysely } from "kysely";

/**
 * The tenant registry: which partner each tenant belongs to, managed by operators. It replaces
 * `tenant_partners`, which was learned from tokens; that table is left in place, unread, so an
 * operator can review what was learned and register what is right (nothing is copied over: a
 * learned row may have come from any token naming a partner). Every change notifies
 * `scaivault_tenant_changed` with the tenant id, so each replica drops what it cached.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table tenants (
      tenant_id text primary key,
      partner_id text not null,
      display_name text,
      created_at timestamptz not null,
      updated_at timestamptz not null
    );
    create index tenants_partner_id on tenants (partner_id, tenant_id);

    create function scaivault_notify_tenant_change() returns trigger language plpgsql as $$
    begin
      perform pg_notify('scaivault_tenant_changed', case when tg_op = 'DELETE' then old.tenant_id else new.tenant_id end);
      return null;
    end
    $$;

    create trigger tenants_changed
      after insert or update or delete on tenants
      for each row execute function scaivault_notify_tenant_change();
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop trigger tenants_changed on tenants;
    drop function scaivault_notify_tenant_change();
    drop table tenants;
  `.execute(db);
}
