import type { Kysely } from "kysely";
import { Migrator, type Migration, type MigrationProvider } from "kysely/migration";
import * as m0001 from "./migrations/0001_initial.js";
import * as m0002 from "./migrations/0002_rotation_warn_seconds.js";
import * as m0003 from "./migrations/0003_webhooks.js";
import * as m0004 from "./migrations/0004_secret_change_notify.js";
import * as m0020 from "./migrations/0020_provider_rotation.js";

/** The fixed list of migrations, in order. New ones are appended, never edited. */
const migrations: Record<string, Migration> = {
  "0001_initial": m0001,
  "0002_rotation_warn_seconds": m0002,
  "0003_webhooks": m0003,
  "0004_secret_change_notify": m0004,
  "0020_provider_rotation": m0020,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/** Brings the schema up to date; safe to run from several replicas at once (Kysely takes a lock). */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error;
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}
