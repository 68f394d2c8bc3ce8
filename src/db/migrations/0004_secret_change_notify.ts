// Frozen: this migration imports nothing from the app, so it means the same thing forever.
import { sql, type Kysely } from "kysely";

/**
 * Every change that can alter what a read of a secret returns notifies `scaivault_secret_changed`
 * with the secret id, on commit. Replicas keep ciphertext rows in memory and drop them on that
 * notice, whoever made the change (API, scheduler, an operator's SQL). Updates of read bookkeeping
 * (`last_accessed_at`) do not notify: they are not in the column list.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function scaivault_notify_secret_change() returns trigger language plpgsql as $$
    declare
      changed bigint;
    begin
      if tg_table_name = 'secrets' then
        changed := case when tg_op = 'DELETE' then old.id else new.id end;
      else
        changed := case when tg_op = 'DELETE' then old.secret_id else new.secret_id end;
      end if;
      perform pg_notify('scaivault_secret_changed', changed::text);
      return null;
    end
    $$;

    create trigger secrets_changed
      after update of path, secret_type, description, tags, owner, max_versions, expires_at,
        rotation_policy_id, secret_policy_id, current_version, deleted_at, purge_after
      or delete on secrets
      for each row execute function scaivault_notify_secret_change();

    create trigger secret_versions_changed
      after insert or update or delete on secret_versions
      for each row execute function scaivault_notify_secret_change();
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop trigger secret_versions_changed on secret_versions;
    drop trigger secrets_changed on secrets;
    drop function scaivault_notify_secret_change();
  `.execute(db);
}
