import { auditAllowed } from "../audit/call-audit.js";
import type { CallContext } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import type { Envelope } from "../crypto/envelope.js";
import { inTransaction, type Db, type Executor, type Tx } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import { decodeCursor, encodeCursor, pageLimit, pageOf } from "../pagination.js";
import type { SecretReadCache } from "../secrets/secret-read-cache.js";
import { validateSecretPath } from "../secrets/secret-path.js";
import { parseDurationField } from "../secrets/secrets-service.js";
import * as secretsStore from "../secrets/secrets-store.js";
import type { RotationEngine } from "./rotation-engine.js";
import type { ProviderRuns } from "./provider-runs.js";
import { assignSecret, findPolicyOrThrow, findSecretPolicyOrThrow } from "./policy-links.js";
import * as store from "./policy-store.js";
import type { HistoryRow, PolicyWithCount } from "./policy-store.js";
import { nextWindowOpenings, timingOf } from "../rotation-planning/rotation-window.js";
import { MAX_DURATION_SECONDS, parseInterval, parseTiming, type ParsedTiming } from "../rotation-planning/timing-input.js";
import { resumeAfterPause } from "../rotation-planning/schedule.js";

const NAME_PATTERN = /^[a-z0-9_-]{1,64}$/;
const DEFAULT_GRACE_PERIOD = "48h";
/** Upcoming-rotation warnings when a policy names none; an explicit empty `warn_before` turns them off. */
const DEFAULT_WARN_BEFORE = ["7d", "1d"];
const HISTORY_STATUSES = ["success", "failed", "pending", "skipped"];

export interface CreatePolicyInput {
  name: string;
  description?: string;
  /** Give this or `schedule`. */
  interval: string;
  schedule?: string;
  timezone?: string;
  rotationWindow?: string;
  gracePeriod?: string;
  warnBefore?: string;
  autoGenerate?: boolean;
  secretPolicyId?: string;
  webhookIds: string[];
}

/** A partial update: absent fields stay; `""` clears an optional text field, `[]` clears the webhooks. */
export interface UpdatePolicyInput {
  description?: string;
  /** Switches the policy to an interval (its schedule is cleared). */
  interval?: string;
  /** Switches the policy to a schedule (its interval is cleared). */
  schedule?: string;
  /** `""` resets the schedule's zone to UTC. */
  timezone?: string;
  /** `""` removes the schedule's window. */
  rotationWindow?: string;
  gracePeriod?: string;
  warnBefore?: string;
  autoGenerate?: boolean;
  secretPolicyId?: string;
  webhookIds?: string[];
}

export interface RotationServiceDeps {
  db: Db;
  envelope: Envelope;
  engine: RotationEngine;
  /** This replica's read cache: rotated secrets leave it at commit, so the caller's next read sees the new version. */
  readCache: Pick<SecretReadCache, "invalidatePath">;
  clock: Clock;
  /** Secrets bound to a provider rotate through it, on "rotate now" too. */
  providerRuns: Pick<ProviderRuns, "boundOf" | "rotateNow">;
}

/** A policy as the API shows it: the row, its number of secrets, and its next scheduled times. */
export type PolicyView = PolicyWithCount & { next_windows: Date[] };

/** The rotation policy use cases: policies, assignments, rotate-now, history and the due list. */
export function createRotationService(deps: RotationServiceDeps) {
  const { db, envelope, engine, readCache, clock } = deps;

  async function policyOrThrow(exec: Executor, tenantId: string, id: string): Promise<PolicyView> {
    const row = await store.findPolicyWithCount(exec, tenantId, id);
    if (!row) throw new ScaiVaultError("rotation_policy_not_found", `rotation policy ${id} not found`);
    return viewOf(row, clock.now());
  }

  async function requireReferences(tx: Tx, tenantId: string, secretPolicyId: string | null | undefined, webhookIds: string[] | undefined) {
    if (secretPolicyId) await findSecretPolicyOrThrow(tx, tenantId, secretPolicyId);
    const missing = webhookIds ? await store.missingWebhookIds(tx, tenantId, webhookIds) : [];
    if (missing.length > 0) throw new ScaiVaultError("webhook_not_found", `webhook ${missing[0]} not found`);
  }

  async function list(call: CallContext, input: { activeOnly: boolean; limit?: number; cursor?: string }) {
    const limit = pageLimit(input.limit);
    const rows = await store.listPolicies(db, { tenantId: call.tenantId, activeOnly: input.activeOnly, afterId: input.cursor ? String(decodeCursor(input.cursor, "after")) : undefined, limit });
    const page = pageOf(rows, limit, (last) => encodeCursor("after", last.id));
    await auditAllowed(db, clock, call);
    const now = clock.now();
    return { policies: page.rows.map((p) => viewOf(p, now)), hasMore: page.hasMore, cursor: page.cursor };
  }

  async function create(call: CallContext, input: CreatePolicyInput): Promise<PolicyView> {
    if (!input.name) throw new ScaiVaultError("invalid_request", "name is required");
    if (!NAME_PATTERN.test(input.name)) throw new ScaiVaultError("invalid_request", "name must be 1 to 64 characters of a-z, 0-9, _ and -");
    validateDescription(input.description);
    const now = clock.now();
    const timing = parseTiming(input, now);
    const gracePeriod = input.gracePeriod || DEFAULT_GRACE_PERIOD;
    const gracePeriodSeconds = parseGracePeriod(gracePeriod);
    const warn = parseWarnBefore(input.warnBefore ?? defaultWarnBefore(timing.cycleSeconds), timing);
    const webhookIds = dedupe(input.webhookIds);
    return inTransaction(db, async (tx) => {
      await requireReferences(tx, call.tenantId, input.secretPolicyId, webhookIds);
      const row = await store.insertPolicy(tx, {
        tenant_id: call.tenantId,
        id: `rot_${input.name}`,
        name: input.name,
        description: input.description || null,
        ...timing.columns,
        grace_period: gracePeriod.trim(),
        grace_period_seconds: gracePeriodSeconds,
        warn_before: warn.text,
        warn_before_seconds: warn.seconds,
        auto_generate: input.autoGenerate ?? false,
        secret_policy_id: input.secretPolicyId || null,
        webhook_ids: webhookIds,
        is_active: true,
        created_at: now,
        updated_at: now,
      });
      if (!row) throw new ScaiVaultError("name_conflict", `a rotation policy named ${input.name} already exists`);
      await auditAllowed(tx, clock, call);
      return viewOf({ ...row, secrets_count: 0 }, now);
    });
  }

  async function get(call: CallContext, id: string): Promise<PolicyView> {
    const policy = await policyOrThrow(db, call.tenantId, id);
    await auditAllowed(db, clock, call);
    return policy;
  }

  /** Applies a partial update; a new timing (interval, schedule, zone, window) or kind restarts the schedules of the policy's secrets. */
  async function update(call: CallContext, id: string, input: UpdatePolicyInput): Promise<PolicyView> {
    validateDescription(input.description);
    const webhookIds = input.webhookIds && dedupe(input.webhookIds);
    const now = clock.now();
    return inTransaction(db, async (tx) => {
      const current = await policyOrThrow(tx, call.tenantId, id);
      const timing = parseTiming(mergedTiming(current, input), now);
      const warn = parseWarnBefore(input.warnBefore ?? current.warn_before ?? undefined, timing);
      const gracePeriodSeconds = input.gracePeriod !== undefined ? parseGracePeriod(input.gracePeriod) : undefined;
      await requireReferences(tx, call.tenantId, input.secretPolicyId, webhookIds);
      await store.updatePolicy(tx, call.tenantId, id, {
        updated_at: now,
        warn_before: warn.text,
        warn_before_seconds: warn.seconds,
        ...timing.columns,
        ...(input.description !== undefined ? { description: input.description || null } : {}),
        ...(gracePeriodSeconds !== undefined ? { grace_period: input.gracePeriod!.trim(), grace_period_seconds: gracePeriodSeconds } : {}),
        ...(input.autoGenerate !== undefined ? { auto_generate: input.autoGenerate } : {}),
        ...(input.secretPolicyId !== undefined ? { secret_policy_id: input.secretPolicyId || null } : {}),
        ...(webhookIds !== undefined ? { webhook_ids: webhookIds } : {}),
      });
      const c = timing.columns;
      const retimed =
        c.interval_seconds !== current.interval_seconds ||
        c.schedule !== current.schedule ||
        c.timezone !== current.timezone ||
        c.rotation_window_seconds !== current.rotation_window_seconds;
      const rescheduled = retimed || (input.autoGenerate !== undefined && input.autoGenerate !== current.auto_generate);
      if (rescheduled) await store.restartSchedules(tx, call.tenantId, id, timingOf(c), now);
      await auditAllowed(tx, clock, call);
      return policyOrThrow(tx, call.tenantId, id);
    });
  }

  async function remove(call: CallContext, id: string) {
    return inTransaction(db, async (tx) => {
      await findPolicyOrThrow(tx, call.tenantId, id);
      const detached = await store.deletePolicy(tx, call.tenantId, id);
      await auditAllowed(tx, clock, call);
      return { id, deleted: true, detachedSecrets: detached };
    });
  }

  /**
   * Pauses or resumes a policy. On resume, rotations that fell due while it was paused are skipped,
   * not queued: each overdue schedule moves to its next occurrence after now (an interval keeps
   * its phase; a cron schedule takes its next window).
   */
  async function setActive(call: CallContext, id: string, active: boolean): Promise<PolicyView> {
    const now = clock.now();
    return inTransaction(db, async (tx) => {
      const current = await policyOrThrow(tx, call.tenantId, id);
      if (current.is_active !== active) {
        await store.updatePolicy(tx, call.tenantId, id, { is_active: active, updated_at: now });
        if (active) {
          const timing = timingOf(current);
          for (const a of await store.lockOverdueAssignments(tx, call.tenantId, id, now)) {
            await store.updateAssignment(tx, a.secret_id, {
              ...store.planColumns(timing, resumeAfterPause(timing, a.next_rotation_at, now, store.spreadKeyOf(a.secret_id))),
              cycle: a.cycle + 1,
              warned: [],
              attempts: 0,
              retry_at: null,
              claimed_until: null,
            });
          }
        }
      }
      await auditAllowed(tx, clock, call);
      return policyOrThrow(tx, call.tenantId, id);
    });
  }

  /** Assigns a secret (moving it from another policy if needed); `created` is false when it was already assigned here. */
  async function assign(call: CallContext, id: string, path: string) {
    validateSecretPath(path);
    const now = clock.now();
    return inTransaction(db, async (tx) => {
      await findPolicyOrThrow(tx, call.tenantId, id);
      const secret = await secretsStore.findSecret(tx, call.tenantId, path, true);
      if (!secret || secret.deleted_at) throw new ScaiVaultError("secret_not_found", "secret not found");
      const before = await store.findAssignment(tx, secret.id);
      const assignment = await assignSecret(tx, call.tenantId, id, secret, now);
      await auditAllowed(tx, clock, call, { path });
      return { assignment, created: before?.policy_id !== id };
    });
  }

  async function detach(call: CallContext, id: string, path: string) {
    validateSecretPath(path);
    return inTransaction(db, async (tx) => {
      await findPolicyOrThrow(tx, call.tenantId, id);
      // A soft-deleted secret can still be detached: detaching is housekeeping, not a read.
      const secret = await secretsStore.findSecret(tx, call.tenantId, path, true);
      if (!secret) throw new ScaiVaultError("secret_not_found", "secret not found");
      const detached = await store.detachSecret(tx, call.tenantId, id, secret.id);
      if (detached) await store.failOpenPending(tx, secret.id, id, "secret detached from the rotation policy");
      await auditAllowed(tx, clock, call, { path });
      return { policyId: id, secretPath: path, detached };
    });
  }

  /**
   * Rotates now, in one transaction: a generated version per secret for an auto-generating policy
   * (a secret whose generation fails gets a `failed` item and the others still rotate), or a due
   * announcement and a `pending` item per secret for an event-driven one.
   */
  async function rotateNow(call: CallContext, id: string, paths: string[]): Promise<HistoryRow[]> {
    paths.forEach(validateSecretPath);
    const now = clock.now();
    const bound: secretsStore.SecretRow[] = [];
    await envelope.prepareTenant(call.tenantId);
    const results = await inTransaction(db, async (tx) => {
      const policy = await policyOrThrow(tx, call.tenantId, id);
      let assignments = await store.listAssignments(tx, call.tenantId, id);
      if (paths.length > 0) {
        const byPath = new Map(assignments.map((a) => [a.secret_path, a]));
        for (const path of paths) {
          if (byPath.has(path)) continue;
          const secret = await secretsStore.findSecret(tx, call.tenantId, path);
          if (!secret || secret.deleted_at) throw new ScaiVaultError("secret_not_found", `secret ${path} not found`);
          throw new ScaiVaultError("invalid_request", `secret ${path} is not assigned to ${id}`);
        }
        const wanted = new Set(paths);
        assignments = assignments.filter((a) => wanted.has(a.secret_path));
      }
      const items: HistoryRow[] = [];
      const bindings = await deps.providerRuns.boundOf(tx, assignments.map((a) => a.secret_id));
      for (const a of assignments) {
        // Locked in the writers' order (secret, then assignment); one detached meanwhile is left alone.
        const secret = await store.lockSecretById(tx, a.secret_id);
        const assignment = await store.findAssignment(tx, a.secret_id, true);
        if (!secret || assignment?.policy_id !== id) continue;
        // A provider-bound secret rotates through its provider, after this transaction.
        if (bindings.has(secret.id)) {
          bound.push(secret);
          continue;
        }
        const target = { policy, secret, actor: call.principal.subject, reason: "manual", now };
        items.push(policy.auto_generate ? await engine.rotateGenerated(tx, target) : await engine.announceDue(tx, target, now));
      }
      await auditAllowed(tx, clock, call, paths.length === 1 ? { path: paths[0] } : undefined);
      return items;
    });
    for (const item of results) if (item.status === "success") readCache.invalidatePath(call.tenantId, item.secret_path);
    for (const secret of bound) results.push(await rotateBound(call, id, secret));
    return results;
  }

  /** A provider-bound secret's "rotate now": the history item of its run once promoted, or `failed` with the run's error. */
  async function rotateBound(call: CallContext, policyId: string, secret: secretsStore.SecretRow): Promise<HistoryRow> {
    const item = { tenant_id: call.tenantId, seq: 0, policy_id: policyId, secret_id: secret.id, secret_path: secret.path, rotated_by: call.principal.subject, reason: "manual" };
    try {
      const r = await deps.providerRuns.rotateNow(call, secret);
      return { ...item, id: r!.runId, status: "success", old_version: r!.previousVersion, new_version: r!.version, rotated_at: r!.rotatedAt, error: null };
    } catch (err) {
      const message = err instanceof ScaiVaultError ? err.message : "rotation failed";
      return { ...item, id: `rh_${secret.id}`, status: "failed", old_version: secret.current_version, new_version: null, rotated_at: clock.now(), error: message };
    }
  }

  async function history(call: CallContext, id: string, input: { status?: string; limit?: number; cursor?: string }) {
    if (input.status && !HISTORY_STATUSES.includes(input.status)) {
      throw new ScaiVaultError("invalid_request", `status must be one of ${HISTORY_STATUSES.join(", ")}`);
    }
    const limit = pageLimit(input.limit);
    const beforeSeq = input.cursor ? Number(decodeCursor(input.cursor, "before")) : undefined;
    if (beforeSeq !== undefined && !Number.isSafeInteger(beforeSeq)) throw new ScaiVaultError("invalid_request", "cursor is not valid");
    const rows = await store.listHistory(db, { tenantId: call.tenantId, policyId: id, status: input.status || undefined, beforeSeq, limit });
    // A deleted policy's history stays readable; a policy that never existed is not found.
    if (rows.length === 0 && beforeSeq === undefined) await policyOrThrow(db, call.tenantId, id);
    const page = pageOf(rows, limit, (last) => encodeCursor("before", String(last.seq)));
    await auditAllowed(db, clock, call);
    return { items: page.rows, hasMore: page.hasMore, cursor: page.cursor };
  }

  /** Secrets of active policies due within the horizon (a scheduled one: whose window opens within it) and, by default, those already overdue; soonest first. */
  async function due(call: CallContext, input: { withinHours?: number; includeOverdue?: boolean; policyId?: string }) {
    const withinHours = input.withinHours ?? 24;
    if (!Number.isInteger(withinHours) || withinHours < 0 || withinHours > 87_600) {
      throw new ScaiVaultError("invalid_request", "within_hours must be from 0 to 87600");
    }
    if (input.policyId) await findPolicyOrThrow(db, call.tenantId, input.policyId);
    const now = clock.now();
    const rows = await store.listDue(db, {
      tenantId: call.tenantId,
      until: new Date(now.getTime() + withinHours * 3_600_000),
      from: (input.includeOverdue ?? true) ? undefined : now,
      policyId: input.policyId || undefined,
    });
    await auditAllowed(db, clock, call);
    return rows.map((r) => ({
      path: r.secret_path,
      policyId: r.policy_id,
      policyName: r.policy_name,
      nextRotationAt: r.next_rotation_at,
      isOverdue: r.next_rotation_at <= now,
      windowOpensAt: r.window_opens_at,
      windowClosesAt: r.window_closes_at,
    }));
  }

  return { list, create, get, update, remove, setActive, assign, detach, rotateNow, history, due };
}

export type RotationService = ReturnType<typeof createRotationService>;

function parseGracePeriod(text: string): number {
  const seconds = parseDurationField(text, "grace_period");
  if (seconds > MAX_DURATION_SECONDS) throw new ScaiVaultError("invalid_duration", "grace_period must be at most 3650d");
  return seconds;
}

/**
 * The timing a partial update asks for: giving `interval` switches to an interval, giving
 * `schedule` switches to a schedule (keeping the zone and window unless given), giving neither
 * keeps the kind and changes the zone or window of a schedule.
 */
function mergedTiming(current: PolicyWithCount, input: UpdatePolicyInput) {
  if (input.schedule !== undefined && input.schedule.trim() === "") {
    throw new ScaiVaultError("invalid_request", "schedule must not be empty: give interval to stop using a schedule");
  }
  if (input.interval !== undefined) {
    if (input.schedule !== undefined) throw new ScaiVaultError("invalid_request", "give either interval or schedule, not both");
    if (input.interval.trim() === "") parseInterval(input.interval);
    return { interval: input.interval, timezone: input.timezone, rotationWindow: input.rotationWindow };
  }
  const schedule = input.schedule ?? current.schedule ?? undefined;
  if (schedule === undefined) return { interval: current.interval ?? undefined, timezone: input.timezone, rotationWindow: input.rotationWindow };
  return {
    schedule,
    timezone: input.timezone ?? current.timezone ?? undefined,
    rotationWindow: input.rotationWindow ?? current.rotation_window ?? undefined,
  };
}

/** A policy row as the API shows it at `now`. */
function viewOf(row: PolicyWithCount, now: Date): PolicyView {
  return { ...row, next_windows: nextWindowOpenings(timingOf(row), now, 3) };
}

/** Parses `7d,1d` into its normalized text and seconds (largest first); each must be shorter than the time between rotations. */
function parseWarnBefore(text: string | undefined, timing: ParsedTiming): { text: string | null; seconds: number[] } {
  const labels = (text ?? "")
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "");
  const thresholds = new Map<number, string>();
  const scheduled = timing.columns.schedule !== null;
  for (const label of labels) {
    const seconds = parseDurationField(label, "warn_before");
    if (seconds >= timing.cycleSeconds) {
      throw new ScaiVaultError("invalid_duration", `warn_before ${label} must be shorter than the ${scheduled ? "time between two scheduled times" : "interval"}`);
    }
    if (!thresholds.has(seconds)) thresholds.set(seconds, label);
  }
  const ordered = [...thresholds.entries()].sort((a, b) => b[0] - a[0]);
  return ordered.length === 0 ? { text: null, seconds: [] } : { text: ordered.map(([, l]) => l).join(","), seconds: ordered.map(([s]) => s) };
}

/** The default thresholds that fit inside one cycle (a 2-day policy gets only `1d`). */
function defaultWarnBefore(cycleSeconds: number): string {
  return DEFAULT_WARN_BEFORE.filter((label) => parseDurationField(label, "warn_before") < cycleSeconds).join(",");
}

function validateDescription(description: string | undefined) {
  if (description !== undefined && description.length > 1024) throw new ScaiVaultError("invalid_request", "description is over 1024 characters");
}

function dedupe(ids: string[]): string[] {
  return [...new Set(ids)];
}
