import type { Kysely } from "kysely";
import { Migrator, type Migration, type MigrationProvider } from "kysely/migration";
import * as m0001 from "./migrations/0001_initial.js";
import * as m0002 from "./migrations/0002_rotation_warn_seconds.js";
import * as m0003 from "./migrations/0003_webhooks.js";
import * as m0004 from "./migrations/0004_secret_change_notify.js";
import * as m0010 from "./migrations/0010_audit_client_request_id.js";
import * as m0011 from "./migrations/0011_tenant_registry.js";
import * as m0020 from "./migrations/0020_provider_rotation.js";
import * as m0030 from "./migrations/0030_rotation_schedules.js";
import * as m0040 from "./migrations/0040_watch_and_notification_channels.js";
import * as m0050 from "./migrations/0050_secret_expiry_warnings.js";
import * as m0060 from "./migrations/0060_rotation_supplied_value.js";
import * as m0070 from "./migrations/0070_vault_kv_model.js";
import * as m0080 from "./migrations/0080_rotation_incidents.js";
import * as m0090 from "./migrations/0090_secret_listing_indexes.js";
import * as m0120 from "./migrations/0120_provider_metadata.js";

/** The fixed list of migrations, in order. New ones are appended, never edited. */
const migrations: Record<string, Migration> = {
  "0001_initial": m0001,
  "0002_rotation_warn_seconds": m0002,
  "0003_webhooks": m0003,
  "0004_secret_change_notify": m0004,
  "0010_audit_client_request_id": m0010,
  "0011_tenant_registry": m0011,
  "0020_provider_rotation": m0020,
  "0030_rotation_schedules": m0030,
  "0040_watch_and_notification_channels": m0040,
  "0050_secret_expiry_warnings": m0050,
  "0060_rotation_supplied_value": m0060,
  "0070_vault_kv_model": m0070,
  "0080_rotation_incidents": m0080,
  "0090_secret_listing_indexes": m0090,
  "0120_provider_metadata": m0120,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/** Brings the schema up to date; safe to run from several replicas at once (Kysely takes a lock). */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  // Features land in any order, so a database may have applied 0080 before 0070 existed: such a
  // missing earlier migration is applied rather than refused. Each migration touches its own tables.
  const migrator = new Migrator({ db, provider, allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error;
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}
