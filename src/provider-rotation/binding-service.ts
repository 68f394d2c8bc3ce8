import type { JsonObject } from "@bufbuild/protobuf";
import { auditAllowed } from "../audit/call-audit.js";
import type { CallContext } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import type { Envelope } from "../crypto/envelope.js";
import { inTransaction, type Db, type Executor } from "../db/database.js";
import type { PropagationCheckJson } from "../db/schema.js";
import { ScaiVaultError } from "../errors.js";
import type { ProviderRotation } from "../secrets/provider-rotation.js";
import type { SecretReadCache } from "../secrets/secret-read-cache.js";
import { validateSecretPath } from "../secrets/secret-path.js";
import { openSecretValue } from "../secrets/secret-value.js";
import { parseDurationField, parseGracePeriod } from "../secrets/secrets-service.js";
import * as secretsStore from "../secrets/secrets-store.js";
import type { SecretRow } from "../secrets/secrets-store.js";
import { decodeCursor, encodeCursor, pageLimit, pageOf } from "../pagination.js";
import { checkWebhookUrl, SsrfRefusedError, type AllowList } from "../outbound/ssrf-guard.js";
import type { ProviderRegistry } from "./providers/registry.js";
import { openCredentials, sealCredentials, sealSupplied } from "./provider-credentials.js";
import { assignSecret, findPolicyOrThrow } from "../rotation-policies/policy-links.js";
import { audit, graceSecondsOf, previousCredentialHold, startRun, type RotationRunner } from "./rotation-runner.js";
import { detachSecret, failOpenPending } from "../rotation-policies/policy-store.js";
import { BEFORE_PROMOTE_STEPS, situationOf } from "./run-situation.js";
import { resolveRun, retryRun, rollbackRun, type WaysOutDeps } from "./run-ways-out.js";
import { testBinding } from "./connection-test.js";
import { credentialStillValid, emergencySummary, hurryOpenRun, requireEmergencyScope, supersedeForEmergency, type EmergencyRevocation } from "./emergency-rotation.js";
import * as store from "./binding-store.js";
import type { BindingRow, RunRow } from "./binding-store.js";
import { liveSecret } from "../secrets/live-secret.js";
import { bindingPlan, bindingTimingOf, NO_BINDING_SCHEDULE, parseBindingSchedule, sameSchedule, type BindingScheduleColumns, type BindingScheduleInput } from "./binding-schedule.js";

/** Last path segments reserved under `/v1/rotation/secrets/` for the binding's sub-routes. */
const RESERVED_LAST_SEGMENTS = ["pause", "resume", "runs", "rollback"];
const BINDING_STATUSES = ["active", "paused", "failing"];
const RUN_STATUSES = ["running", "waiting_grace", "succeeded", "failed", "rolled_back", "superseded"];
const MAX_ATTEMPTS_LIMIT = 10;
/** How long a manual rotation waits for a run another replica is working before answering. */
const MANUAL_WAIT_MS = 30_000;

export interface ConfigureRotationInput {
  provider: string;
  config?: Record<string, unknown>;
  credentials?: Record<string, unknown>;
  policyId?: string;
  gracePeriod?: string;
  propagationCheck?: { url: string; expectedStatus?: number; timeout?: string };
  maxAttempts?: number;
  /** The binding's own schedule, instead of a policy (src/provider-rotation/binding-schedule.ts). */
  schedule?: BindingScheduleInput;
}

export interface SecretRotationServiceDeps {
  db: Db;
  envelope: Envelope;
  registry: ProviderRegistry;
  runner: RotationRunner;
  readCache: Pick<SecretReadCache, "invalidatePath">;
  clock: Clock;
  /** The webhooks' allow-list: propagation checks go through the same SSRF guard. */
  allow: AllowList;
  logger: Logger;
}

/** A binding as the API shows it: never its credentials, only whether there are some. */
export interface SecretRotationView {
  binding: BindingRow;
  gracePeriod: string;
  nextRotationAt: Date | undefined;
  interval: string | undefined;
  lastRun: RunRow | undefined;
  /** What schedules it: its own interval or schedule, its policy, or nothing (manual rotations only). */
  scheduleSource: "binding" | "policy" | "none";
}

/** The outcome of a manual provider rotation once its run is promoted. */
export interface ManualRotation {
  run: RunRow;
  version: number;
  previousVersion: number;
  rotatedAt: Date;
  previousReadableUntil: Date | undefined;
  /** An emergency's earlier credential, revoked before the new one was created. */
  revoked?: EmergencyRevocation;
  /** What was revoked and when, in words (emergency rotations). */
  detail?: string;
}

/** How a manual rotation was asked for. */
export interface ManualTrigger {
  triggeredBy?: "manual" | "event";
  newValue?: JsonObject;
  emergency?: boolean;
  reason?: string;
  /** The grace period of this run, 0 allowed; default the binding's. */
  graceSeconds?: number;
}

/** Per-secret provider rotation: the binding's use cases, manual runs and rollback. */
export function createSecretRotationService(deps: SecretRotationServiceDeps) {
  const { db, envelope, registry, runner, clock } = deps;

  async function bindingOrThrow(exec: Executor, tenantId: string, path: string, forUpdate = false) {
    const secret = await liveSecret(exec, tenantId, path, forUpdate);
    const binding = await store.findBinding(exec, secret.id, forUpdate);
    if (!binding) throw new ScaiVaultError("secret_not_found", `secret ${path} has no provider rotation`);
    return { secret, binding };
  }

  async function views(exec: Executor, bindings: BindingRow[]): Promise<SecretRotationView[]> {
    const ids = bindings.map((b) => b.secret_id);
    const [schedules, runs] = await Promise.all([store.schedulesOf(exec, ids), store.findRuns(exec, bindings.flatMap((b) => (b.last_run_id ? [b.last_run_id] : [])))]);
    const out: SecretRotationView[] = [];
    for (const b of bindings) {
      const own = bindingTimingOf(b) !== undefined;
      const schedule = own ? { nextRotationAt: b.next_rotation_at ?? undefined, interval: b.interval } : schedules.get(b.secret_id);
      out.push({
        binding: b,
        gracePeriod: b.grace_period ?? `${await graceSecondsOf(exec as Db, b)}s`,
        nextRotationAt: b.status === "paused" ? undefined : schedule?.nextRotationAt,
        interval: schedule?.interval ?? undefined,
        lastRun: b.last_run_id ? runs.get(b.last_run_id) : undefined,
        scheduleSource: own ? "binding" : schedule ? "policy" : "none",
      });
    }
    return out;
  }

  /** Creates or replaces a secret's binding; `created` tells 201 from 200. Credentials absent on a replace keep the stored ones. */
  async function configure(call: CallContext, path: string, input: ConfigureRotationInput): Promise<{ view: SecretRotationView; created: boolean }> {
    validateBindingPath(path);
    const provider = registry.require(providerNameOf(input.provider));
    const config = input.config ?? {};
    const ownSchedule = input.schedule ? parseBindingSchedule(input.schedule, clock.now()) : undefined;
    if (ownSchedule && input.policyId) throw new ScaiVaultError("invalid_request", "give either policy_id or a schedule of the binding's own (interval, schedule), not both");
    if (ownSchedule && provider.supplied?.required(config)) {
      throw new ScaiVaultError("invalid_request", `a ${provider.name} binding whose new value you supply cannot have its own schedule: give policy_id (its due rotation is announced with rotation.due)`);
    }
    const credentials = input.credentials && Object.keys(input.credentials).length > 0 ? input.credentials : undefined;
    const graceSeconds = input.gracePeriod !== undefined && input.gracePeriod !== "" ? parseGrace(input.gracePeriod) : undefined;
    const maxAttempts = input.maxAttempts ?? 3;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > MAX_ATTEMPTS_LIMIT) throw new ScaiVaultError("invalid_request", `max_attempts must be from 1 to ${MAX_ATTEMPTS_LIMIT}`);
    const check = input.propagationCheck ? await parseCheck(input.propagationCheck, deps.allow) : undefined;
    const tenantId = call.tenantId;
    await envelope.prepareTenant(tenantId);
    const now = clock.now();
    const result = await inTransaction(db, async (tx) => {
      const secret = await liveSecret(tx, tenantId, path, true);
      const existing = await store.findBinding(tx, secret.id, true);
      const stored = existing && !credentials ? await openCredentials(envelope, tx, tenantId, path, existing) : undefined;
      provider.validate(config, credentials ?? stored);
      if (input.policyId) await findPolicyOrThrow(tx, tenantId, input.policyId);
      if (ownSchedule && secret.rotation_policy_id && secret.rotation_policy_id !== existing?.policy_id) {
        throw new ScaiVaultError("invalid_request", `secret ${path} is assigned to rotation policy ${secret.rotation_policy_id}: detach it first, or give policy_id instead of a schedule`);
      }
      const sealed = credentials
        ? await sealCredentials(envelope, tx, tenantId, path, credentials)
        : existing
          ? { credentials_key_id: existing.credentials_key_id, credentials_nonce: existing.credentials_nonce, credentials_ciphertext: existing.credentials_ciphertext }
          : { credentials_key_id: null, credentials_nonce: null, credentials_ciphertext: null };
      await store.upsertBinding(tx, {
        tenant_id: tenantId,
        secret_id: secret.id,
        path,
        provider: provider.name,
        config: JSON.stringify(config),
        ...sealed,
        policy_id: input.policyId || null,
        grace_period: input.gracePeriod ? input.gracePeriod.trim() : null,
        grace_period_seconds: graceSeconds ?? null,
        propagation_check: check ? JSON.stringify(check) : null,
        max_attempts: maxAttempts,
        ...scheduleColumnsOf(ownSchedule, existing, secret.id, now),
        status: existing?.status ?? "active",
        created_at: now,
        updated_at: now,
      });
      if (input.policyId) await assignSecret(tx, tenantId, input.policyId, secret, now);
      else if (existing?.policy_id && (await detachSecret(tx, tenantId, existing.policy_id, secret.id))) {
        await failOpenPending(tx, secret.id, existing.policy_id, "secret detached from the rotation policy");
      }
      await auditAllowed(tx, clock, call, { path });
      const [view] = await views(tx, [(await store.findBinding(tx, secret.id))!]);
      return { view: view!, created: !existing };
    });
    return result;
  }

  async function get(call: CallContext, path: string): Promise<SecretRotationView> {
    validateBindingPath(path);
    const { binding } = await bindingOrThrow(db, call.tenantId, path);
    const [view] = await views(db, [binding]);
    await auditAllowed(db, clock, call, { path });
    return view!;
  }

  async function list(call: CallContext, input: { status?: string; provider?: string; prefix?: string; limit?: number; cursor?: string }) {
    // The prior art's `list --status failed` means the bindings whose last run failed.
    if (input.status === "failed") input = { ...input, status: "failing" };
    if (input.status && !BINDING_STATUSES.includes(input.status)) throw new ScaiVaultError("invalid_request", `status must be one of ${BINDING_STATUSES.join(", ")}`);
    const provider = input.provider ? registry.require(providerNameOf(input.provider)).name : undefined;
    const limit = pageLimit(input.limit);
    const rows = await store.listBindings(db, {
      tenantId: call.tenantId,
      status: input.status || undefined,
      provider,
      prefix: input.prefix || undefined,
      afterPath: input.cursor ? String(decodeCursor(input.cursor, "after")) : undefined,
      limit,
    });
    const page = pageOf(rows, limit, (last) => encodeCursor("after", last.path));
    await auditAllowed(db, clock, call);
    return { data: await views(db, page.rows), hasMore: page.hasMore, cursor: page.cursor };
  }

  /** Removes the binding; the secret, its versions and its policy assignment stay. */
  async function remove(call: CallContext, path: string) {
    validateBindingPath(path);
    return inTransaction(db, async (tx) => {
      const { secret } = await bindingOrThrow(tx, call.tenantId, path, true);
      await store.deleteBinding(tx, secret.id);
      await auditAllowed(tx, clock, call, { path });
      return { path, deleted: true };
    });
  }

  async function setPaused(call: CallContext, path: string, paused: boolean): Promise<SecretRotationView> {
    validateBindingPath(path);
    const now = clock.now();
    return inTransaction(db, async (tx) => {
      const { secret, binding } = await bindingOrThrow(tx, call.tenantId, path, true);
      if (paused && binding.status !== "paused") await store.updateBinding(tx, secret.id, { status: "paused", paused_at: now, updated_at: now });
      if (!paused && binding.status === "paused") await store.updateBinding(tx, secret.id, { status: "active", paused_at: null, updated_at: now });
      await auditAllowed(tx, clock, call, { path });
      const [view] = await views(tx, [(await store.findBinding(tx, secret.id))!]);
      return view!;
    });
  }

  async function runs(call: CallContext, path: string, input: { status?: string; limit?: number; cursor?: string }) {
    validateBindingPath(path);
    if (input.status && !RUN_STATUSES.includes(input.status)) throw new ScaiVaultError("invalid_request", `status must be one of ${RUN_STATUSES.join(", ")}`);
    const limit = pageLimit(input.limit);
    const beforeSeq = input.cursor ? Number(decodeCursor(input.cursor, "before")) : undefined;
    if (beforeSeq !== undefined && !Number.isSafeInteger(beforeSeq)) throw new ScaiVaultError("invalid_request", "cursor is not valid");
    const secret = await liveSecret(db, call.tenantId, path);
    const rows = await store.listRuns(db, { secretId: secret.id, status: input.status || undefined, beforeSeq, limit });
    const page = pageOf(rows, limit, (last) => encodeCursor("before", last.seq));
    await auditAllowed(db, clock, call, { path });
    return { data: page.rows, hasMore: page.hasMore, cursor: page.cursor };
  }

  /**
   * Rotates a bound secret now and answers once its run is promoted (or failed), not after the
   * grace period; undefined when the secret has no binding (the caller rotates it in the vault).
   */
  async function rotateNow(call: CallContext, secret: SecretRow, trigger: ManualTrigger = {}): Promise<ManualRotation | undefined> {
    const binding = await store.findBinding(db, secret.id);
    if (!binding) return undefined;
    const { newValue, emergency = false } = trigger;
    if (emergency) requireEmergencyScope(call);
    await envelope.prepareTenant(secret.tenant_id);
    const { run, revoked } = await inTransaction(db, async (tx) => {
      const locked = await liveSecret(tx, secret.tenant_id, secret.path, true);
      const fresh = await store.findBinding(tx, locked.id);
      if (!fresh) throw new ScaiVaultError("secret_not_found", `secret ${secret.path} has no provider rotation`);
      const now = clock.now();
      let revoked: EmergencyRevocation | undefined;
      if (emergency) {
        revoked = await credentialStillValid(tx, locked.id);
        await supersedeForEmergency(tx, locked.id, now);
      } else {
        const hold = await previousCredentialHold(tx, locked.id, now);
        if (hold) throw new ScaiVaultError("failed_precondition", hold);
      }
      const supplied = newValue === undefined ? undefined : await sealSupplied(envelope, tx, locked.tenant_id, locked.path, newValue);
      const started = await startRun(tx, {
        secret: locked,
        binding: fresh,
        triggeredBy: trigger.triggeredBy ?? "manual",
        actor: call.principal.subject,
        now,
        supplied,
        emergency,
        reason: trigger.reason,
        graceSeconds: trigger.graceSeconds,
      });
      // A run already under way issues its own credential: the supplied value would be lost.
      if (supplied && !started.created) throw new ScaiVaultError("failed_precondition", `a rotation of ${secret.path} is already running (${started.run.id}); supply the new value after it ends`);
      if (emergency && !started.created) return { run: await hurryOpenRun(tx, started.run, trigger, now), revoked };
      return { run: started.run, revoked };
    });
    const settled = await waitForPromotion(run.id, emergency);
    const outcome = outcomeOf(settled);
    return emergency ? { ...outcome, revoked, detail: emergencySummary(settled, revoked) } : outcome;
  }

  /** Drives the run here, or waits (in real time, bounded) while another replica works its early steps. */
  async function waitForPromotion(runId: string, throughRevoke = false): Promise<RunRow> {
    const deadline = Date.now() + MANUAL_WAIT_MS;
    for (;;) {
      const run = (await runner.driveToPromotion(runId, throughRevoke)) ?? (await store.findRun(db, runId));
      if (!run) throw new ScaiVaultError("secret_not_found", "the rotation run is gone (the secret was deleted)");
      const early = BEFORE_PROMOTE_STEPS.includes(run.step) && run.status === "running";
      const heldElsewhere = early && run.claimed_until !== null && run.claimed_until > clock.now();
      if (!heldElsewhere || Date.now() > deadline) return run;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  function outcomeOf(run: RunRow): ManualRotation {
    const promoted = run.new_version !== null && ["verify", "revoke", "done"].includes(run.step) && run.status !== "rolled_back";
    if (promoted) {
      return { run, version: run.new_version!, previousVersion: run.old_version!, rotatedAt: promotedAt(run) ?? clock.now(), previousReadableUntil: run.revoke_at ?? undefined };
    }
    if (run.status === "failed") throw new ScaiVaultError("unavailable", `rotation failed at step ${run.error ?? run.step} (run ${run.id}). ${situationOf(run, clock.now()).situation}`);
    const retry = run.attempts > 0 ? ` after attempt ${run.attempts} failed (${run.error ?? "error"}); next attempt at ${run.next_attempt_at.toISOString()}` : "";
    throw new ScaiVaultError("unavailable", `rotation is still at step ${run.step}${retry}; run ${run.id}`);
  }

  /** The ways out of a failed run (run-ways-out.ts). */
  const waysOut: WaysOutDeps = { db, envelope, registry, runner, readCache: deps.readCache, clock, logger: deps.logger };
  const rollback = (call: CallContext, path: string) => (validateBindingPath(path), rollbackRun(waysOut, call, path));
  const retry = (call: CallContext, path: string) => (validateBindingPath(path), retryRun(waysOut, call, path));
  const resolve = (call: CallContext, path: string, reason?: string) => (validateBindingPath(path), resolveRun(waysOut, call, path, reason));
  /** The pre-flight on its own (connection-test.ts). */
  const testConnection = (call: CallContext, path: string) => (validateBindingPath(path), testBinding(waysOut, call, path));

  /** The secrets service's view of provider rotation (src/secrets/provider-rotation.ts). */
  const providerRotation: ProviderRotation = {
    async rotateBound(call, secret, given) {
      const binding = await store.findBinding(db, secret.id);
      if (!binding) return undefined;
      // Checked before a run starts, so a wrong or missing value changes nothing.
      const supplied = registry.get(binding.provider)?.supplied;
      const config = binding.config ?? {};
      if (given.newValue !== undefined) {
        if (!supplied) throw new ScaiVaultError("invalid_request", `new_value cannot be given: ${secret.path} gets its value from its ${binding.provider} provider`);
        supplied.issue(config, given.newValue);
      } else if (supplied?.required(config)) {
        throw new ScaiVaultError("invalid_request", `new_value is required: ${secret.path} is rotated with a value you supply (${binding.provider} provider)`);
      }
      const r = await rotateNow(call, secret, { newValue: given.newValue, emergency: given.emergency, reason: given.reason, graceSeconds: given.graceSeconds });
      return (
        r && {
          runId: r.run.id,
          version: r.version,
          previousVersion: r.previousVersion,
          rotatedAt: r.rotatedAt,
          previousReadableUntil: r.previousReadableUntil,
          emergency: r.run.emergency,
          revokedVersion: r.revoked?.version,
          detail: r.detail,
        }
      );
    },
  };

  return { configure, get, list, remove, setPaused, runs, rotateNow, rollback, retry, resolve, testConnection, providerRotation };
}

export type SecretRotationService = ReturnType<typeof createSecretRotationService>;

function promotedAt(run: RunRow): Date | undefined {
  const step = run.steps.find((s) => s.step === "promote" && s.status === "succeeded");
  return step ? new Date(step.at) : undefined;
}

function validateBindingPath(path: string) {
  validateSecretPath(path);
  const last = path.slice(path.lastIndexOf("/") + 1);
  if (RESERVED_LAST_SEGMENTS.includes(last)) throw new ScaiVaultError("invalid_path", `a last segment ${last} is reserved under /v1/rotation/secrets/`);
}

/** DotVault's provider name `aws` is `aws_iam` here: the one AWS provider, so the alias is unambiguous. */
const PROVIDER_ALIASES: Record<string, string> = { aws: "aws_iam" };

function providerNameOf(name: string): string {
  return PROVIDER_ALIASES[name] ?? name;
}

/**
 * The schedule columns a configure stores: the binding's own schedule planned from its last
 * rotation (or from now), the plan and cycle kept when the same schedule is given again; all
 * cleared without one.
 */
function scheduleColumnsOf(own: BindingScheduleColumns | undefined, existing: BindingRow | undefined, secretId: number, now: Date) {
  if (!own) return { ...NO_BINDING_SCHEDULE, next_rotation_at: null, window_closes_at: null };
  if (existing && existing.next_rotation_at !== null && sameSchedule(own, existing)) return own;
  const timing = bindingTimingOf(own)!;
  const plan = bindingPlan(timing, existing?.last_rotated_at ?? now, now, secretId);
  return { ...own, ...plan, schedule_cycle: (existing?.schedule_cycle ?? 0) + 1 };
}

function parseGrace(text: string): number {
  // `0s` is allowed: the old credential is revoked as soon as the new one is verified.
  return parseGracePeriod(text);
}

async function parseCheck(input: { url: string; expectedStatus?: number; timeout?: string }, allow: AllowList): Promise<PropagationCheckJson> {
  if (!input.url) throw new ScaiVaultError("invalid_request", "propagation_check.url is required");
  try {
    await checkWebhookUrl(input.url, allow);
  } catch (err) {
    throw new ScaiVaultError("invalid_request", `propagation_check.url: ${err instanceof SsrfRefusedError ? err.message : "not a valid URL"}`);
  }
  const expected = input.expectedStatus ?? 200;
  if (!Number.isInteger(expected) || expected < 100 || expected > 599) throw new ScaiVaultError("invalid_request", "propagation_check.expected_status must be an HTTP status (100 to 599)");
  const timeoutSeconds = input.timeout ? parseDurationField(input.timeout, "propagation_check.timeout") : 5;
  if (timeoutSeconds < 1 || timeoutSeconds > 60) throw new ScaiVaultError("invalid_duration", "propagation_check.timeout must be from 1s to 60s");
  return { url: input.url, expected_status: expected, timeout_seconds: timeoutSeconds };
}
