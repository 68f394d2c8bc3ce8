import { randomBytes } from "node:crypto";
import { sql, type Insertable, type Selectable, type Updateable } from "kysely";
import type { Executor, Tx } from "../db/database.js";
import type { RotationRunsTable, RunStepJson, SecretRotationsTable } from "../db/schema.js";

/** Data access for provider rotation: bindings (`secret_rotations`) and runs (`rotation_runs`). Every function takes the database or a transaction first. */

export type BindingRow = Selectable<SecretRotationsTable>;
export type RunRow = Selectable<RotationRunsTable>;

/** Run statuses in which a run still has work to do. */
export const OPEN_RUN_STATUSES = ["running", "waiting_grace"] as const;

/** A new run id. */
export function newRunId(): string {
  return `run_${randomBytes(12).toString("hex")}`;
}

/** A secret's binding; `forUpdate` locks it. */
export async function findBinding(exec: Executor, secretId: number, forUpdate = false): Promise<BindingRow | undefined> {
  let q = exec.selectFrom("secret_rotations").selectAll().where("secret_id", "=", secretId);
  if (forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

/** The bindings of several secrets, by secret id. */
export async function findBindings(exec: Executor, secretIds: number[]): Promise<Map<number, BindingRow>> {
  if (secretIds.length === 0) return new Map();
  const rows = await exec.selectFrom("secret_rotations").selectAll().where("secret_id", "in", secretIds).execute();
  return new Map(rows.map((r) => [r.secret_id, r]));
}

/** Inserts or replaces a binding. */
export async function upsertBinding(exec: Executor, row: Insertable<SecretRotationsTable>): Promise<void> {
  const { secret_id: _id, tenant_id: _t, created_at: _c, ...changes } = row;
  await exec
    .insertInto("secret_rotations")
    .values(row)
    .onConflict((oc) => oc.column("secret_id").doUpdateSet(changes))
    .execute();
}

/** Updates a binding. */
export async function updateBinding(exec: Executor, secretId: number, changes: Updateable<SecretRotationsTable>): Promise<void> {
  await exec.updateTable("secret_rotations").set(changes).where("secret_id", "=", secretId).execute();
}

/** Deletes a binding; true when there was one. */
export async function deleteBinding(exec: Executor, secretId: number): Promise<boolean> {
  const r = await exec.deleteFrom("secret_rotations").where("secret_id", "=", secretId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** One page of a tenant's bindings in path order (keyset after `afterPath`), one extra row to tell `has_more`. */
export async function listBindings(exec: Executor, q: { tenantId: string; status?: string; provider?: string; prefix?: string; afterPath?: string; limit: number }): Promise<BindingRow[]> {
  let query = exec.selectFrom("secret_rotations").selectAll().where("tenant_id", "=", q.tenantId);
  // starts_with, not LIKE: a prefix holding % or _ means those characters.
  if (q.prefix) query = query.where(sql<boolean>`starts_with(path, ${q.prefix})`);
  if (q.status) query = query.where("status", "=", q.status);
  if (q.provider) query = query.where("provider", "=", q.provider);
  if (q.afterPath !== undefined) query = query.where("path", ">", q.afterPath);
  return query.orderBy("path").limit(q.limit + 1).execute();
}

/** The schedule of secrets from their policy assignments, by secret id. */
export async function schedulesOf(exec: Executor, secretIds: number[]): Promise<Map<number, { nextRotationAt: Date; interval: string | null }>> {
  if (secretIds.length === 0) return new Map();
  const rows = await exec
    .selectFrom("rotation_assignments as a")
    .innerJoin("rotation_policies as p", (j) => j.onRef("p.tenant_id", "=", "a.tenant_id").onRef("p.id", "=", "a.policy_id"))
    .select(["a.secret_id", "a.next_rotation_at", "p.interval"])
    .where("a.secret_id", "in", secretIds)
    .execute();
  return new Map(rows.map((r) => [r.secret_id, { nextRotationAt: r.next_rotation_at, interval: r.interval }]));
}

/** Runs by id. */
export async function findRuns(exec: Executor, ids: string[]): Promise<Map<string, RunRow>> {
  if (ids.length === 0) return new Map();
  const rows = await exec.selectFrom("rotation_runs").selectAll().where("id", "in", ids).execute();
  return new Map(rows.map((r) => [r.id, r]));
}

/** A run; `forUpdate` locks it. */
export async function findRun(exec: Executor, id: string, forUpdate = false): Promise<RunRow | undefined> {
  let q = exec.selectFrom("rotation_runs").selectAll().where("id", "=", id);
  if (forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

/** The secret's unfinished run, if any (there is at most one). */
export async function findOpenRun(exec: Executor, secretId: number): Promise<RunRow | undefined> {
  return exec.selectFrom("rotation_runs").selectAll().where("secret_id", "=", secretId).where("status", "in", [...OPEN_RUN_STATUSES]).executeTakeFirst();
}

/** The secret's newest run. */
export async function findLatestRun(exec: Executor, secretId: number): Promise<RunRow | undefined> {
  return exec.selectFrom("rotation_runs").selectAll().where("secret_id", "=", secretId).orderBy("seq", "desc").limit(1).executeTakeFirst();
}

/** The secret's newest run that got past promote (runs that failed earlier changed nothing), optionally only runs before `beforeSeq`. */
export async function findLastPromotedRun(exec: Executor, secretId: number, beforeSeq?: number): Promise<RunRow | undefined> {
  let q = exec.selectFrom("rotation_runs").selectAll().where("secret_id", "=", secretId).where("step", "in", ["verify", "revoke", "done"]);
  if (beforeSeq !== undefined) q = q.where("seq", "<", beforeSeq);
  return q.orderBy("seq", "desc").limit(1).executeTakeFirst();
}

/** Starts a run unless the secret already has an unfinished one; the open run either way. */
export async function insertRunUnlessOpen(tx: Tx, row: Omit<Insertable<RotationRunsTable>, "steps">): Promise<{ run: RunRow; created: boolean }> {
  const inserted = await tx
    .insertInto("rotation_runs")
    .values({ ...row, steps: "[]" })
    .onConflict((oc) => oc.column("secret_id").where("status", "in", [...OPEN_RUN_STATUSES]).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { run: inserted, created: true };
  return { run: (await findOpenRun(tx, row.secret_id))!, created: false };
}

/** Updates a run and appends a recorded step, in one statement. */
export async function updateRun(exec: Executor, id: string, changes: Omit<Updateable<RotationRunsTable>, "steps">, step?: RunStepJson): Promise<RunRow> {
  return exec
    .updateTable("rotation_runs")
    .set({ ...changes, ...(step ? { steps: sql<string>`steps || ${JSON.stringify([step])}::jsonb` } : {}) })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** One page of a secret's runs, newest first (keyset on `seq`). */
export async function listRuns(exec: Executor, q: { secretId: number; status?: string; beforeSeq?: number; limit: number }): Promise<RunRow[]> {
  let query = exec.selectFrom("rotation_runs").selectAll().where("secret_id", "=", q.secretId);
  if (q.status) query = query.where("status", "=", q.status);
  if (q.beforeSeq !== undefined) query = query.where("seq", "<", q.beforeSeq);
  return query.orderBy("seq", "desc").limit(q.limit + 1).execute();
}

/**
 * Claims up to `limit` runs with work due at `now` (skipping rows other workers hold), or only
 * `onlyId`. Each claim bumps the run's fence: a worker's step commits only while the fence it
 * claimed with is still the run's, so a worker that stalled past its lease is refused.
 */
export async function claimRuns(exec: Executor, now: Date, leaseUntil: Date, limit: number, onlyId?: string): Promise<RunRow[]> {
  let due = exec
    .selectFrom("rotation_runs")
    .select("id")
    .where("status", "in", [...OPEN_RUN_STATUSES])
    .where("next_attempt_at", "<=", now)
    .where((eb) => eb.or([eb("claimed_until", "is", null), eb("claimed_until", "<=", now)]));
  if (onlyId) due = due.where("id", "=", onlyId);
  const ids = due.orderBy("next_attempt_at").limit(limit).forUpdate().skipLocked();
  return exec
    .updateTable("rotation_runs")
    .set((eb) => ({ claimed_until: leaseUntil, fence: eb("fence", "+", 1) }))
    .where("id", "in", ids)
    .returningAll()
    .execute();
}

/** The version rows a run works with (no ciphertext needed by callers that only check state). */
export async function findVersionRow(exec: Executor, secretId: number, version: number) {
  return exec.selectFrom("secret_versions").selectAll().where("secret_id", "=", secretId).where("version", "=", version).executeTakeFirst();
}

/** Sets a version's rotation state and readability. */
export async function setVersionState(exec: Executor, secretId: number, version: number, changes: { rotation_state?: string | null; readable_until?: Date | null }): Promise<void> {
  await exec.updateTable("secret_versions").set(changes).where("secret_id", "=", secretId).where("version", "=", version).execute();
}

/** Keeps what the provider said about a version it issued (a string map, already bounded). */
export async function setVersionMetadata(exec: Executor, secretId: number, version: number, metadataJson: string): Promise<void> {
  await exec.updateTable("secret_versions").set({ provider_metadata: metadataJson }).where("secret_id", "=", secretId).where("version", "=", version).execute();
}
