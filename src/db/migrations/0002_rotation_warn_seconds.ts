// Frozen: this migration imports nothing from the app, so it means the same thing forever.
import { sql, type Kysely } from "kysely";

/**
 * The scheduler claims "assignments that need something now" in one SQL condition; for the
 * warn_before thresholds it needs them as seconds, not as the `7d,1d` text the API shows.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table rotation_policies add column warn_before_seconds integer[] not null default '{}';

    update rotation_policies p
    set warn_before_seconds = coalesce((
      select array_agg(t.seconds order by t.seconds desc)
      from (
        select (
          select sum(m[1]::int * case m[2] when 's' then 1 when 'm' then 60 when 'h' then 3600 when 'd' then 86400 else 604800 end)
          from regexp_matches(token, '(\\d+)([smhdw])', 'g') as m
        )::int as seconds
        from unnest(string_to_array(p.warn_before, ',')) as token
      ) t
      where t.seconds is not null
    ), '{}')
    where p.warn_before is not null;
  `.execute(db);
}

/** Drops the column again. */
export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table rotation_policies drop column warn_before_seconds;`.execute(db);
}
