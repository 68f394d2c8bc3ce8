import { sql } from "kysely";
import type { Executor } from "../db/database.js";

/**
 * The names one level below `prefix` (empty, or ending in `/`) among an owner's live, unexpired
 * secrets, in order: a secret's last segment as is, a folder's first segment with a trailing `/`
 * (a name can be both). What Vault's `LIST` and the console's folder view show.
 */
export async function listChildNames(exec: Executor, ownerId: string, prefix: string, now: Date): Promise<string[]> {
  const start = prefix.length + 1;
  const { rows } = await sql<{ name: string }>`
    select distinct case when strpos(rest, '/') > 0 then split_part(rest, '/', 1) || '/' else rest end as name
    from (
      select substr(path, ${start}) as rest from secrets
      where tenant_id = ${ownerId} and deleted_at is null and (expires_at is null or expires_at > ${now})
        and path >= ${prefix} and starts_with(path, ${prefix})
    ) below
    where rest <> ''
    order by name`.execute(exec);
  return rows.map((r) => r.name);
}
