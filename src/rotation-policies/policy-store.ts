import { randomBytes } from "node:crypto";
import { sql, type Insertable, type Selectable, type Updateable } from "kysely";
import type { Executor, Tx } from "../db/database.js";
import type { RotationAssignmentsTable, RotationHistoryTable, RotationPoliciesTable } from "../db/schema.js";
import type { SecretRow } from "../secrets/secrets-store.js";
import { nextRotationPlan, type RotationPlan, type RotationTiming } from "../rotation-planning/rotation-window.js";

/** Data access for rotation policies, assignments and history. Every function takes the database or a transaction first. */

export type PolicyRow = Selectable<RotationPoliciesTable>;
export type PolicyWithCount = PolicyRow & { secrets_count: number };
export type AssignmentRow = Selectable<RotationAssignmentsTable>;
export type HistoryRow = Selectable<RotationHistoryTable>;
/** A history row's columns, named so that every write's completion statement can be prepared (db/prepared-statements.ts). */
const historyColumns = ["tenant_id", "id", "seq", "policy_id", "secret_id", "secret_path", "status", "old_version", "new_version", "rotated_at", "rotated_by", "reason", "error"] as const;

function policiesWithCount(exec: Executor) {
  return exec
    .selectFrom("rotation_policies as p")
    .selectAll("p")
    .select((eb) =>
      eb
        .selectFrom("rotation_assignments as a")
        .select(sql<number>`count(*)::int`.as("n"))
        .whereRef("a.tenant_id", "=", "p.tenant_id")
        .whereRef("a.policy_id", "=", "p.id")
        .as("secrets_count"),
    );
}

/** Inserts a policy unless its id is taken; undefined when it is. */
export async function insertPolicy(exec: Executor, row: Insertable<RotationPoliciesTable>): Promise<PolicyRow | undefined> {
  return exec
    .insertInto("rotation_policies")
    .values(row)
    .onConflict((oc) => oc.columns(["tenant_id", "id"]).doNothing())
    .returningAll()
    .executeTakeFirst();
}

/** A policy row. */
export async function findPolicy(exec: Executor, tenantId: string, id: string): Promise<PolicyRow | undefined> {
  return exec.selectFrom("rotation_policies").selectAll().where("tenant_id", "=", tenantId).where("id", "=", id).executeTakeFirst();
}

/** A policy with its number of assigned secrets. */
export async function findPolicyWithCount(exec: Executor, tenantId: string, id: string): Promise<PolicyWithCount | undefined> {
  const row = await policiesWithCount(exec).where("p.tenant_id", "=", tenantId).where("p.id", "=", id).executeTakeFirst();
  return row && { ...row, secrets_count: row.secrets_count ?? 0 };
}

/** One page of policies in id order (keyset: after `afterId`), one extra row to tell `has_more`. */
export async function listPolicies(exec: Executor, q: { tenantId: string; activeOnly: boolean; afterId?: string; limit: number }): Promise<PolicyWithCount[]> {
  let query = policiesWithCount(exec).where("p.tenant_id", "=", q.tenantId);
  if (q.activeOnly) query = query.where("p.is_active", "=", true);
  if (q.afterId !== undefined) query = query.where("p.id", ">", q.afterId);
  const rows = await query.orderBy("p.id").limit(q.limit + 1).execute();
  return rows.map((r) => ({ ...r, secrets_count: r.secrets_count ?? 0 }));
}

/** Updates columns of a policy. */
export async function updatePolicy(exec: Executor, tenantId: string, id: string, changes: Updateable<RotationPoliciesTable>): Promise<void> {
  await exec.updateTable("rotation_policies").set(changes).where("tenant_id", "=", tenantId).where("id", "=", id).execute();
}

/**
 * Deletes a policy and its assignments (by cascade); clears the secrets' `rotation_policy_id`.
 * Its history stays (an audit trail outlives what it records); open `pending` items close as
 * `failed`. Returns how many secrets were attached.
 */
export async function deletePolicy(tx: Tx, tenantId: string, id: string): Promise<number> {
  const attached = await countAssignments(tx, tenantId, id);
  await tx.updateTable("secrets").set({ rotation_policy_id: null }).where("tenant_id", "=", tenantId).where("rotation_policy_id", "=", id).execute();
  await tx
    .updateTable("rotation_history")
    .set({ status: "failed", error: "rotation policy deleted" })
    .where("tenant_id", "=", tenantId)
    .where("policy_id", "=", id)
    .where("status", "=", "pending")
    .execute();
  await tx.updateTable("secret_rotations").set({ policy_id: null }).where("tenant_id", "=", tenantId).where("policy_id", "=", id).execute();
  await tx.deleteFrom("rotation_policies").where("tenant_id", "=", tenantId).where("id", "=", id).execute();
  return attached;
}

/** How many secrets are assigned to a policy. */
export async function countAssignments(exec: Executor, tenantId: string, policyId: string): Promise<number> {
  const row = await exec
    .selectFrom("rotation_assignments")
    .select(sql<number>`count(*)::int`.as("n"))
    .where("tenant_id", "=", tenantId)
    .where("policy_id", "=", policyId)
    .executeTakeFirstOrThrow();
  return row.n;
}

/** Which of `ids` are not webhooks of the tenant. */
export async function missingWebhookIds(exec: Executor, tenantId: string, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await exec.selectFrom("webhooks").select("id").where("tenant_id", "=", tenantId).where("id", "in", ids).execute();
  const found = new Set(rows.map((r) => r.id));
  return ids.filter((id) => !found.has(id));
}

/** Reads a secret row by id and locks it; rotations lock the secret before its assignment, as writes do. */
export async function lockSecretById(tx: Tx, id: number) {
  return tx.selectFrom("secrets").selectAll().where("id", "=", id).forUpdate().executeTakeFirst();
}

/** The secrets and assignments a rotation works on, by secret id. */
export interface RotationRows {
  secrets: Map<number, SecretRow>;
  assignments: Map<number, AssignmentRow>;
}

/**
 * Locks the rows of the secrets to rotate in the writers' order: the secrets, then their
 * assignments, each in id order. With `skipLocked`, rows another transaction holds are left out
 * instead of waited for (and so is a row that does not exist).
 */
export async function lockForRotation(tx: Tx, secretIds: number[], skipLocked: boolean): Promise<RotationRows> {
  let secretsQuery = tx.selectFrom("secrets").selectAll().where("id", "in", secretIds).orderBy("id").forUpdate();
  if (skipLocked) secretsQuery = secretsQuery.skipLocked();
  const secrets = await secretsQuery.execute();
  if (secrets.length === 0) return { secrets: new Map(), assignments: new Map() };
  let assignmentsQuery = tx
    .selectFrom("rotation_assignments")
    .selectAll()
    .where("secret_id", "in", secrets.map((s) => s.id))
    .orderBy("secret_id")
    .forUpdate();
  if (skipLocked) assignmentsQuery = assignmentsQuery.skipLocked();
  const assignments = await assignmentsQuery.execute();
  return { secrets: new Map(secrets.map((s) => [s.id, s])), assignments: new Map(assignments.map((a) => [a.secret_id, a])) };
}

/** Reads a secret's assignment; `forUpdate` locks it. */
export async function findAssignment(exec: Executor, secretId: number, forUpdate = false): Promise<AssignmentRow | undefined> {
  let query = exec.selectFrom("rotation_assignments").selectAll().where("secret_id", "=", secretId);
  if (forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

/** A policy's assignments of live secrets, in path order. */
export async function listAssignments(exec: Executor, tenantId: string, policyId: string): Promise<AssignmentRow[]> {
  return exec
    .selectFrom("rotation_assignments as a")
    .innerJoin("secrets as s", "s.id", "a.secret_id")
    .selectAll("a")
    .where("a.tenant_id", "=", tenantId)
    .where("a.policy_id", "=", policyId)
    .where("s.deleted_at", "is", null)
    .orderBy("a.secret_path")
    .execute();
}

/** Updates a secret's assignment. */
export async function updateAssignment(exec: Executor, secretId: number, changes: Updateable<RotationAssignmentsTable>): Promise<void> {
  await exec.updateTable("rotation_assignments").set(changes).where("secret_id", "=", secretId).execute();
}

/** Removes a secret's assignment to a policy and clears the secret's `rotation_policy_id`; true when it was assigned. */
export async function detachSecret(tx: Tx, tenantId: string, policyId: string, secretId: number): Promise<boolean> {
  const result = await tx
    .deleteFrom("rotation_assignments")
    .where("tenant_id", "=", tenantId)
    .where("secret_id", "=", secretId)
    .where("policy_id", "=", policyId)
    .executeTakeFirst();
  await tx.updateTable("secrets").set({ rotation_policy_id: null }).where("id", "=", secretId).where("rotation_policy_id", "=", policyId).execute();
  return Number(result.numDeletedRows) > 0;
}

/**
 * Restarts every schedule of a policy after its timing or kind changed: a new cycle from the last
 * rotation (or assignment), so warnings, retries and in-flight claims reset. An interval policy
 * is one statement (next = last + interval); a cron schedule is evaluated here per assignment.
 */
export async function restartSchedules(tx: Tx, tenantId: string, policyId: string, timing: RotationTiming, now: Date): Promise<void> {
  const reset = { warned: [], attempts: 0, retry_at: null, claimed_until: null };
  if (timing.schedule === null) {
    await tx
      .updateTable("rotation_assignments")
      .set((eb) => ({
        next_rotation_at: sql<Date>`coalesce(last_rotated_at, assigned_at) + make_interval(secs => ${timing.intervalSeconds})`,
        window_opens_at: null,
        window_closes_at: null,
        cycle: eb("cycle", "+", 1),
        ...reset,
      }))
      .where("tenant_id", "=", tenantId)
      .where("policy_id", "=", policyId)
      .execute();
    return;
  }
  const rows = await tx
    .selectFrom("rotation_assignments")
    .select(["secret_id", "assigned_at", "last_rotated_at"])
    .where("tenant_id", "=", tenantId)
    .where("policy_id", "=", policyId)
    .forUpdate()
    .execute();
  await setPlans(
    tx,
    rows.map((r) => ({ secretId: r.secret_id, plan: nextRotationPlan(timing, r.last_rotated_at ?? r.assigned_at, now, spreadKeyOf(r.secret_id)) })),
    { newCycle: true },
  );
}

/** The key that spreads one secret's rotations inside a window (see rotationStartAt). */
export function spreadKeyOf(secretId: number): string {
  return `secret:${secretId}`;
}

/** The assignment columns that hold a plan: the start the scheduler acts at and, for a schedule, its window. */
export function planColumns(timing: RotationTiming, plan: RotationPlan) {
  return {
    next_rotation_at: plan.startAt,
    window_opens_at: timing.schedule === null ? null : plan.opensAt,
    window_closes_at: timing.schedule === null ? null : plan.closesAt,
  };
}

/**
 * Stores the next plan of scheduled assignments in one statement; with `newCycle` it also starts
 * a new cycle (warnings, retries and claims reset). Only for plans of scheduled policies.
 */
export async function setPlans(tx: Tx, plans: { secretId: number; plan: RotationPlan }[], opts: { newCycle: boolean }): Promise<void> {
  if (plans.length === 0) return;
  const cycle = opts.newCycle ? sql`, cycle = a.cycle + 1, warned = '{}', attempts = 0, retry_at = null, claimed_until = null` : sql``;
  await sql`
    update rotation_assignments a
    set next_rotation_at = p.start_at, window_opens_at = p.opens_at, window_closes_at = p.closes_at ${cycle}
    from unnest(
      ${plans.map((p) => p.secretId)}::bigint[], ${plans.map((p) => p.plan.startAt)}::timestamptz[],
      ${plans.map((p) => p.plan.opensAt)}::timestamptz[], ${plans.map((p) => p.plan.closesAt)}::timestamptz[]
    ) as p(secret_id, start_at, opens_at, closes_at)
    where a.secret_id = p.secret_id`.execute(tx);
}

/** A policy's assignments whose rotation time has passed, locked. */
export async function lockOverdueAssignments(tx: Tx, tenantId: string, policyId: string, now: Date): Promise<AssignmentRow[]> {
  return tx
    .selectFrom("rotation_assignments")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("policy_id", "=", policyId)
    .where("next_rotation_at", "<=", now)
    .orderBy("secret_id")
    .forUpdate()
    .execute();
}

/** A new rotation history id. */
export function newHistoryId(): string {
  return `rh_${randomBytes(12).toString("hex")}`;
}

/** Records a successful rotation: completes the secret's open `pending` item (the rotation it answers), or appends a new item. */
export async function recordSuccess(
  tx: Tx,
  item: { tenantId: string; policyId: string | null; secretId: number; path: string; oldVersion: number; newVersion: number; at: Date; by: string; reason?: string },
): Promise<HistoryRow> {
  const completed = await completePending(tx, { secretId: item.secretId, oldVersion: item.oldVersion, newVersion: item.newVersion, now: item.at, actor: item.by, reason: item.reason });
  if (completed) return completed;
  return insertHistory(tx, {
    tenant_id: item.tenantId,
    id: newHistoryId(),
    policy_id: item.policyId,
    secret_id: item.secretId,
    secret_path: item.path,
    status: "success",
    old_version: item.oldVersion,
    new_version: item.newVersion,
    rotated_at: item.at,
    rotated_by: item.by,
    reason: item.reason ?? null,
    error: null,
  });
}

/**
 * Completes a secret's open `pending` items with a newly written version (a non-empty `reason`
 * replaces theirs); the first completed item, or undefined when there was none.
 */
export async function completePending(
  tx: Tx,
  change: { secretId: number; oldVersion: number; newVersion: number; now: Date; actor: string; reason?: string },
): Promise<HistoryRow | undefined> {
  const completed = await tx
    .updateTable("rotation_history")
    .set({
      status: "success",
      old_version: change.oldVersion,
      new_version: change.newVersion,
      rotated_at: change.now,
      rotated_by: change.actor,
      ...(change.reason ? { reason: change.reason } : {}),
    })
    .where("secret_id", "=", change.secretId)
    .where("status", "=", "pending")
    .returning(historyColumns)
    .execute();
  return completed[0];
}

/** Appends a history item. */
export async function insertHistory(exec: Executor, row: Insertable<RotationHistoryTable>): Promise<HistoryRow> {
  return exec.insertInto("rotation_history").values(row).returningAll().executeTakeFirstOrThrow();
}

/** The open `pending` item of a secret under a policy, if any. */
export async function findOpenPending(exec: Executor, secretId: number, policyId: string): Promise<HistoryRow | undefined> {
  return exec
    .selectFrom("rotation_history")
    .selectAll()
    .where("secret_id", "=", secretId)
    .where("policy_id", "=", policyId)
    .where("status", "=", "pending")
    .executeTakeFirst();
}

/** Closes a secret's open `pending` items as `failed` (the secret left the policy before its new version came). */
export async function failOpenPending(exec: Executor, secretId: number, policyId: string, error: string): Promise<void> {
  await exec
    .updateTable("rotation_history")
    .set({ status: "failed", error })
    .where("secret_id", "=", secretId)
    .where("policy_id", "=", policyId)
    .where("status", "=", "pending")
    .execute();
}

/** One page of a policy's history, newest first (keyset on `seq`), one extra row to tell `has_more`. */
export async function listHistory(exec: Executor, q: { tenantId: string; policyId: string; status?: string; beforeSeq?: number; limit: number }): Promise<HistoryRow[]> {
  let query = exec.selectFrom("rotation_history").selectAll().where("tenant_id", "=", q.tenantId).where("policy_id", "=", q.policyId);
  if (q.status) query = query.where("status", "=", q.status);
  if (q.beforeSeq !== undefined) query = query.where("seq", "<", q.beforeSeq);
  return query.orderBy("seq", "desc").limit(q.limit + 1).execute();
}

/** Assignments of live secrets under active policies due (or, when scheduled, whose window opens) before `until`, and not before `from` when given; soonest first. */
export async function listDue(exec: Executor, q: { tenantId: string; until: Date; from?: Date; policyId?: string }) {
  let query = exec
    .selectFrom("rotation_assignments as a")
    .innerJoin("rotation_policies as p", (j) => j.onRef("p.tenant_id", "=", "a.tenant_id").onRef("p.id", "=", "a.policy_id"))
    .innerJoin("secrets as s", "s.id", "a.secret_id")
    .select(["a.secret_path", "a.policy_id", "p.name as policy_name", "a.next_rotation_at", "a.window_opens_at", "a.window_closes_at"])
    .where("a.tenant_id", "=", q.tenantId)
    .where("p.is_active", "=", true)
    .where("s.deleted_at", "is", null)
    // A scheduled rotation is due within the horizon when its window opens within it.
    .where(sql<Date>`coalesce(a.window_opens_at, a.next_rotation_at)`, "<=", q.until);
  if (q.from) query = query.where("a.next_rotation_at", ">", q.from);
  if (q.policyId) query = query.where("a.policy_id", "=", q.policyId);
  return query.orderBy("a.next_rotation_at").orderBy("a.secret_path").execute();
}

/** What a scheduler worker saw when it claimed an assignment: the fencing condition of its commit. */
export interface RotationClaim {
  tenantId: string;
  secretId: number;
  path: string;
  policyId: string;
  /** The assignment's cycle at claim time. */
  cycle: number;
  /** The secret's current version at claim time. */
  expectedVersion: number;
}

/**
 * Claims up to `limit` assignments that need the scheduler now, skipping rows other workers hold
 * (`FOR UPDATE SKIP LOCKED`), and marks them claimed until `leaseUntil` so that other workers
 * leave them alone afterwards. One statement, so it is atomic without a transaction. An
 * assignment needs the scheduler when its rotation is due (and not waiting for a retry, nor
 * already announced to an event-driven policy's automation: `0 = any(warned)`, see DUE_ANNOUNCED),
 * when an announced rotation's window closed without the new version, or when a warn_before
 * threshold not yet sent this cycle has been crossed (counted back from the window's opening for
 * a scheduled policy, from the due time otherwise).
 */
export async function claimDue(exec: Executor, now: Date, leaseUntil: Date, limit: number): Promise<RotationClaim[]> {
  const due = exec
    .selectFrom("rotation_assignments as c")
    .innerJoin("rotation_policies as p", (j) => j.onRef("p.tenant_id", "=", "c.tenant_id").onRef("p.id", "=", "c.policy_id"))
    .innerJoin("secrets as cs", "cs.id", "c.secret_id")
    .select("c.secret_id")
    .where("p.is_active", "=", true)
    .where("cs.deleted_at", "is", null)
    .where((eb) => eb.or([eb("c.claimed_until", "is", null), eb("c.claimed_until", "<=", now)]))
    .where(
      sql<boolean>`(
        (c.next_rotation_at <= ${now} and (c.retry_at is null or c.retry_at <= ${now}) and not (0 = any(c.warned)))
        or (c.window_closes_at <= ${now} and 0 = any(c.warned))
        or (coalesce(c.window_opens_at, c.next_rotation_at) > ${now} and exists (
          select 1 from unnest(p.warn_before_seconds) as w(seconds)
          where coalesce(c.window_opens_at, c.next_rotation_at) <= ${now}::timestamptz + make_interval(secs => w.seconds) and not (w.seconds = any(c.warned))
        ))
      )`,
    )
    .orderBy("c.next_rotation_at")
    .limit(limit)
    .forUpdate(["c"])
    .skipLocked();
  const rows = await exec
    .updateTable("rotation_assignments as a")
    .from("secrets as s")
    .set({ claimed_until: leaseUntil })
    .whereRef("s.id", "=", "a.secret_id")
    .where("a.secret_id", "in", due)
    .returning(["a.tenant_id", "a.secret_id", "a.secret_path", "a.policy_id", "a.cycle", "a.next_rotation_at", "s.current_version"])
    .execute();
  return rows
    .sort((x, y) => x.next_rotation_at.getTime() - y.next_rotation_at.getTime())
    .map((r) => ({
      tenantId: r.tenant_id,
      secretId: r.secret_id,
      path: r.secret_path,
      policyId: r.policy_id,
      cycle: r.cycle,
      expectedVersion: r.current_version,
    }));
}
