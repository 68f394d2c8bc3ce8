// Frozen: this migration imports nothing from the app, so it means the same thing forever.
import { sql, type Kysely } from "kysely";

/**
 * Listings that stay flat at a million secrets in one tenant.
 *
 * - `secrets_listing` replaces `secrets_tenant_path_live` (same key, same predicate), in byte order
 *   (`collate "C"`, whatever the database's collation) so that a path prefix is one contiguous
 *   range of it and the listing's order is the same on every database. The columns
 *   the listing filters on besides the path ride along in the index, so the bounded
 *   `total_count` (at most the configured number of matches) can be counted from the index alone
 *   when the visibility map allows. Only columns a version write never changes are included
 *   (`updated_at` and `current_version` are not), so a new version's row update stays a HOT
 *   update, and no index grows on a write.
 * - `secrets_listing_by_type` serves `secret_type` filters in path order, so a rare type does not
 *   walk the tenant's whole path index to fill a page.
 *
 * Tag filters use the existing `secrets_tags` GIN index (rare tags) or the path index (common ones).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create index secrets_listing on secrets (tenant_id, path collate "C") include (secret_type, expires_at, tags) where deleted_at is null;
    drop index secrets_tenant_path_live;
    create index secrets_listing_by_type on secrets (tenant_id, secret_type, path collate "C") include (expires_at, tags) where deleted_at is null;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop index secrets_listing_by_type;
    create index secrets_tenant_path_live on secrets (tenant_id, path) where deleted_at is null;
    drop index secrets_listing;
  `.execute(db);
}
