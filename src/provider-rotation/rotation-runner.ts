import type { JsonObject } from "@bufbuild/protobuf";
import { Cron } from "croner";
import { appendAuditEntries } from "../audit/audit-store.js";
import type { Clock } from "../clock.js";
import { secretAad, type Envelope } from "../crypto/envelope.js";
import { inTransaction, type Db, type Tx } from "../db/database.js";
import type { RunStepJson } from "../db/schema.js";
import { ScaiVaultError } from "../errors.js";
import { appendEvents, type OutboxEvent } from "../events/outbox-store.js";
import type { Logger } from "../log.js";
import type { SecretReadCache } from "../secrets/secret-read-cache.js";
import { openSecretValue } from "../secrets/secret-value.js";
import * as secretsStore from "../secrets/secrets-store.js";
import type { SecretRow } from "../secrets/secrets-store.js";
import type { GuardedHttp } from "../outbound/guarded-http.js";
import type { CredentialData, ProviderCall, RotationProvider } from "./providers/provider.js";
import type { ProviderRegistry } from "./providers/registry.js";
import { startNextCycles } from "../rotation-policies/policy-batch-store.js";
import { BEFORE_PROMOTE_STEPS, situationOf } from "./run-situation.js";
import { preflightFailure, preflightSummary, runPreflight } from "./providers/preflight.js";
import { noSuppliedValue, openCredentials, openSupplied, type SealedSupplied } from "./provider-credentials.js";
import { recordSuccess, findPolicy, insertHistory, newHistoryId } from "../rotation-policies/policy-store.js";
import * as store from "./binding-store.js";
import type { BindingRow, RunRow } from "./binding-store.js";

/** The default grace period when neither the binding nor its policy sets one. */
export const DEFAULT_GRACE_SECONDS = 48 * 3600;
const BACKOFF_BASE_SECONDS = 10;
const BACKOFF_CAP_SECONDS = 300;

/** How long a run waits after a failed attempt (1-based): 10 s doubling, at most 5 minutes. */
export function backoffSeconds(attempt: number): number {
  return Math.min(BACKOFF_BASE_SECONDS * 2 ** (attempt - 1), BACKOFF_CAP_SECONDS);
}

export interface RotationRunnerDeps {
  db: Db;
  envelope: Envelope;
  registry: ProviderRegistry;
  /** The guarded HTTP client of propagation checks (SSRF guard, bounded answer). */
  http: GuardedHttp;
  /** This replica's read cache: a promoted or rolled-back secret leaves it at commit. */
  readCache: Pick<SecretReadCache, "invalidatePath">;
  clock: Clock;
  logger: Logger;
  /** How long a claim keeps other workers away from a run (default 120 s). */
  leaseSeconds?: number;
  /** Runs claimed at once (default 32). */
  batchSize?: number;
  /** Runs worked side by side (default 4). */
  concurrency?: number;
}

/** What starts a run. */
export interface RunTrigger {
  secret: SecretRow;
  binding: BindingRow;
  triggeredBy: "manual" | "scheduled" | "event";
  actor: string;
  now: Date;
  /** The operator's new value (sealed), which the create step uses instead of calling the provider. */
  supplied?: SealedSupplied;
  /** An emergency rotation: a credential still in an earlier grace period is revoked first, without waiting for it. */
  emergency?: boolean;
  /** The operator's reason, kept on the run and told in its events. */
  reason?: string;
  /** The grace period the rotate call asked for (seconds, 0 allowed), instead of the binding's. */
  graceSeconds?: number;
}

/** A run's worker lost its claim (another worker took the run over, or it was rolled back or removed): it stops at once. */
class LostClaim extends Error {}
/** A failure that no retry can mend (the secret changed under the run, the binding is gone). */
class TerminalStepError extends ScaiVaultError {}

/** Starts a provider rotation in the caller's transaction, or joins the secret's unfinished one. */
export async function startRun(tx: Tx, t: RunTrigger): Promise<{ run: RunRow; created: boolean }> {
  const result = await store.insertRunUnlessOpen(tx, {
    tenant_id: t.secret.tenant_id,
    id: store.newRunId(),
    secret_id: t.secret.id,
    path: t.secret.path,
    provider: t.binding.provider,
    policy_id: t.binding.policy_id,
    triggered_by: t.triggeredBy,
    actor: t.actor,
    status: "running",
    // Every run starts with the pre-flight check (./providers/preflight.ts), then create.
    step: "preflight",
    attempts: 0,
    old_version: t.secret.current_version,
    started_at: t.now,
    next_attempt_at: t.now,
    fence: 0,
    emergency: t.emergency ?? false,
    reason: t.reason ?? null,
    grace_seconds: t.graceSeconds ?? null,
    ...t.supplied,
  });
  if (result.created) {
    await store.updateBinding(tx, t.secret.id, { last_run_id: result.run.id });
    await audit(tx, result.run, result.run.emergency ? "emergency_start" : "start", t.now, "allowed", t.secret.current_version);
  }
  return result;
}

/**
 * Why a new rotation of the secret may not start now: the latest run promoted a new credential
 * and the old one is still valid at the provider inside its grace period (the run is verifying or
 * waiting to revoke, or it failed after promote before `revoke_at`). Starting another run then
 * would need a third credential: IAM's second key slot and the alternating PostgreSQL role are
 * the one consumers were promised until `revoke_at`. Undefined when a run may start.
 */
export async function previousCredentialHold(exec: Db | Tx, secretId: number, now: Date): Promise<string | undefined> {
  const latest = await store.findLastPromotedRun(exec, secretId);
  if (!latest || latest.old_version === null || !["verify", "revoke"].includes(latest.step)) return undefined;
  const until = latest.revoke_at ? ` until ${latest.revoke_at.toISOString()}` : "";
  if (isOpen(latest)) {
    return `the previous rotation (${latest.id}) is still ${latest.step === "verify" ? "verifying" : "in its grace period"}: version ${latest.old_version} stays valid${until}; rotate again after it is revoked, roll back, or rotate with emergency: true to revoke it now`;
  }
  if (latest.status !== "failed" || !latest.revoke_at || latest.revoke_at <= now) return undefined;
  const old = await store.findVersionRow(exec, secretId, latest.old_version);
  if (!old || old.rotation_state !== null) return undefined;
  return `the previous rotation (${latest.id}) failed at ${latest.step} and version ${latest.old_version} is in its grace period${until}; roll back, resolve, or rotate again after that (or with emergency: true to revoke it now)`;
}

/**
 * Works provider rotation runs: create → test → promote → verify → revoke, each step's outcome
 * committed (fenced by the run's claim) before the next step starts, so a run survives any crash
 * and resumes at its recorded step on whichever replica claims it next. `runDue(now)` is the whole
 * job; `start` only puts it on a timer.
 */
export function createRotationRunner(deps: RotationRunnerDeps) {
  const { db, envelope, registry, clock, logger } = deps;
  const leaseMs = (deps.leaseSeconds ?? 120) * 1000;
  const batchSize = deps.batchSize ?? 32;
  const aborts = new AbortController();
  let job: Cron | undefined;
  let inFlight: Promise<unknown> | undefined;

  /** Claims and works every run with work due at `now`; returns how many runs were worked. */
  async function runDue(now: Date = clock.now()): Promise<number> {
    let worked = 0;
    for (;;) {
      const claimed = await store.claimRuns(db, now, new Date(now.getTime() + leaseMs), batchSize);
      let next = 0;
      const worker = async () => {
        while (next < claimed.length) await work(claimed[next++]!);
      };
      await Promise.all(Array.from({ length: Math.min(deps.concurrency ?? 4, claimed.length) }, worker));
      worked += claimed.length;
      if (claimed.length < batchSize) return worked;
    }
  }

  /**
   * Works one run now, on this replica, until it is promoted, finished or waiting (a retry, the
   * grace period): what a manual rotation waits for. The run as it then is; a run another worker
   * holds is returned untouched.
   */
  async function driveToPromotion(runId: string, throughRevoke = false): Promise<RunRow | undefined> {
    const now = clock.now();
    const [claimed] = await store.claimRuns(db, now, new Date(now.getTime() + leaseMs), 1, runId);
    if (!claimed) return store.findRun(db, runId);
    // An emergency goes on through verify and a revoke that is due at once (grace 0s): the answer says the replaced credential is gone.
    const stopWhen = throughRevoke ? undefined : (r: RunRow) => !BEFORE_PROMOTE_STEPS.includes(r.step);
    return (await work(claimed, stopWhen)) ?? store.findRun(db, runId);
  }

  /** Steps a claimed run until it waits, finishes, or `stopWhen` says so; undefined when the claim was lost. */
  async function work(claimed: RunRow, stopWhen?: (run: RunRow) => boolean): Promise<RunRow | undefined> {
    let run = claimed;
    try {
      await envelope.prepareTenant(run.tenant_id);
      // A step that hands the run back (verify ends the claim before the grace period) ends this
      // worker's turn even when the next step is already due: every provider call runs under a
      // claim, so a replica killed mid-call keeps the others away until its lease lapses.
      while (isOpen(run) && run.claimed_until !== null && run.next_attempt_at <= clock.now()) {
        if (stopWhen?.(run)) {
          // Handed back early (a manual rotation got its answer): any worker may go on with it now.
          await db.updateTable("rotation_runs").set({ claimed_until: null }).where("id", "=", run.id).where("fence", "=", run.fence).execute();
          return { ...run, claimed_until: null };
        }
        run = await stepOnce(run);
      }
      return run;
    } catch (err) {
      if (err instanceof LostClaim) {
        logger.warn("rotation run claim lost: another worker owns the run now", { runId: run.id, path: run.path, step: run.step });
        return undefined;
      }
      logger.error("rotation run failed unexpectedly; it resumes when its claim lapses", { runId: run.id, path: run.path, step: run.step, err });
      return undefined;
    }
  }

  /** Runs the run's current step once and commits its outcome (success, retry or failure). */
  async function stepOnce(run: RunRow): Promise<RunRow> {
    try {
      switch (run.step) {
        case "preflight":
          return await preflight(run);
        case "create":
          return await create(run);
        case "test":
          return await test(run);
        case "promote":
          return await promote(run);
        case "verify":
          return await verify(run);
        case "revoke":
          return await revoke(run);
        default:
          throw new TerminalStepError("internal", `unknown step ${run.step}`);
      }
    } catch (err) {
      if (err instanceof LostClaim) throw err;
      return afterFailure(run, err);
    }
  }

  // ---- the steps ----

  /** Step `preflight`: the provider answers and accepts the stored credentials; rejected ones (or a wrong config) fail the run without retries. */
  async function preflight(run: RunRow): Promise<RunRow> {
    const ctx = await contextOf(run);
    const report = await runPreflight(ctx.provider, ctx.call(ctx.oldData));
    const failure = preflightFailure(report);
    if (failure) throw failure.retryable ? failure : new TerminalStepError(failure.code, failure.message);
    return commit(run, async (tx, _secret, now) => {
      await audit(tx, run, "preflight", now, "allowed", run.old_version);
      return store.updateRun(tx, run.id, { step: "create", attempts: 0, error: null }, stepRecord("preflight", "succeeded", run.attempts + 1, now, preflightSummary(report)));
    });
  }

  async function create(run: RunRow): Promise<RunRow> {
    const ctx = await contextOf(run);
    await finishPrevious(run, ctx);
    const supplied = await openSupplied(envelope, db, run.tenant_id, run.path, run);
    let issued;
    if (supplied === undefined) issued = await ctx.provider.create(ctx.call(ctx.oldData));
    else if (ctx.provider.supplied) issued = ctx.provider.supplied.issue(ctx.binding.config ?? {}, supplied);
    else throw new TerminalStepError("invalid_request", `provider ${run.provider} does not take a supplied new value`);
    let stored = false;
    try {
      const next = await commit(run, async (tx, secret, now) => {
        if (secret.current_version !== run.old_version) throw new TerminalStepError("version_conflict", "the secret was written during the rotation");
        const version = await secretsStore.nextVersionNumber(tx, secret.id);
        const sealed = await envelope.encrypt(tx, secret.tenant_id, secretAad(secret.tenant_id, secret.path, version), Buffer.from(JSON.stringify(issued.data), "utf8"));
        await secretsStore.insertVersion(tx, { secretId: secret.id, version, sealed, createdAt: now, createdBy: run.actor });
        await store.setVersionState(tx, secret.id, version, { rotation_state: "pending" });
        const metadata = issued.metadata ? JSON.stringify(issued.metadata) : null;
        if (metadata) await store.setVersionMetadata(tx, secret.id, version, metadata);
        await audit(tx, run, "create", now, "allowed", version);
        return store.updateRun(
          tx,
          run.id,
          { step: "test", attempts: 0, new_version: version, new_expires_at: issued.expiresAt ?? null, new_metadata: metadata, provider_response: issued.summary, error: null, ...noSuppliedValue },
          stepRecord("create", "succeeded", run.attempts + 1, now, issued.summary),
        );
      });
      stored = true;
      return next;
    } finally {
      // Never stored (lost claim, secret changed, database failure): the credential must not stay valid.
      if (!stored) await discardQuietly(run, ctx.provider, ctx.call(ctx.oldData), issued.data);
    }
  }

  async function test(run: RunRow): Promise<RunRow> {
    const ctx = await contextOf(run);
    const outcome = await ctx.provider.test(ctx.call(ctx.oldData), await ctx.newData());
    return commit(run, async (tx, _secret, now) => {
      await audit(tx, run, "test", now, "allowed", run.new_version);
      return store.updateRun(tx, run.id, { step: "promote", attempts: 0, provider_response: outcome.summary, error: null }, stepRecord("test", "succeeded", run.attempts + 1, now, outcome.summary));
    });
  }

  async function promote(run: RunRow): Promise<RunRow> {
    const ctx = await contextOf(run);
    const next = await commit(run, async (tx, secret, now) => {
      if (secret.current_version !== run.old_version) throw new TerminalStepError("version_conflict", "the secret was written during the rotation");
      const pending = run.new_version === null ? undefined : await store.findVersionRow(tx, secret.id, run.new_version);
      if (!pending || pending.rotation_state !== "pending") throw new TerminalStepError("version_not_found", "the pending version is gone");
      const graceSeconds = run.grace_seconds ?? (await graceSecondsOf(tx, ctx.binding));
      const revokeAt = new Date(now.getTime() + graceSeconds * 1000);
      await secretsStore.updateSecret(tx, secret.id, {
        current_version: pending.version,
        updated_at: now,
        ...(run.new_expires_at ? { expires_at: run.new_expires_at } : {}),
      });
      await store.setVersionState(tx, secret.id, pending.version, { rotation_state: null });
      await store.setVersionState(tx, secret.id, run.old_version!, { readable_until: revokeAt });
      await store.updateBinding(tx, secret.id, { last_rotated_at: now });
      if (ctx.binding.policy_id) {
        await recordSuccess(tx, { tenantId: secret.tenant_id, policyId: ctx.binding.policy_id, secretId: secret.id, path: secret.path, oldVersion: run.old_version!, newVersion: pending.version, at: now, by: run.actor, reason: run.triggered_by });
      }
      // A manual rotation counts as one for the schedule, as a scheduled one does.
      await startNextCycles(tx, [{ secretId: secret.id, at: now }]);
      await audit(tx, run, "promote", now, "allowed", pending.version);
      const detail = `version ${pending.version} is current; version ${run.old_version} readable until ${revokeAt.toISOString()}`;
      return store.updateRun(tx, run.id, { step: "verify", attempts: 0, revoke_at: revokeAt, old_expires_at: secret.expires_at, error: null }, stepRecord("promote", "succeeded", run.attempts + 1, now, detail));
    });
    deps.readCache.invalidatePath(run.tenant_id, run.path);
    return next;
  }

  /**
   * A new rotation resolves an earlier one that failed after promote (contract: "rollback or a new
   * rotation resolves it"): before a new credential is created, the earlier run's old credential
   * is revoked — after its grace period, and only once the propagation check passes again, so
   * nothing is revoked under doubt. Repeating this after a crash finds it revoked and goes on.
   */
  async function finishPrevious(run: RunRow, ctx: Awaited<ReturnType<typeof contextOf>>): Promise<void> {
    const previous = await store.findLastPromotedRun(db, run.secret_id, run.seq);
    if (!previous || !["failed", "superseded"].includes(previous.status) || previous.old_version === null || !["verify", "revoke"].includes(previous.step)) return;
    const old = await store.findVersionRow(db, run.secret_id, previous.old_version);
    if (!old || old.rotation_state !== null) return;
    // An emergency revokes at once: the credential is presumed leaked, or its slot is needed for the new one.
    if (!run.emergency && previous.revoke_at && previous.revoke_at > clock.now()) {
      throw new TerminalStepError("failed_precondition", `version ${previous.old_version} of the failed rotation ${previous.id} is in its grace period until ${previous.revoke_at.toISOString()}`);
    }
    const checked = run.emergency ? "emergency: revoked without waiting for the grace period or the propagation check" : await propagationCheck(ctx.binding);
    const oldData = (await dataOf(db, ctx.secret, previous.old_version)) ?? {};
    const outcome = await ctx.provider.revoke(ctx.call(ctx.oldData), oldData);
    await commit(run, async (tx, secret, now) => {
      await store.setVersionState(tx, secret.id, previous.old_version!, { rotation_state: "revoked", readable_until: old.readable_until && old.readable_until < now ? old.readable_until : now });
      await store.updateRun(tx, previous.id, {}, stepRecord("revoke", "succeeded", 1, now, `${outcome.summary}; by ${run.id}`));
      const by = run.emergency ? { emergency: true, reason: run.reason } : {};
      await appendEvents(tx, [runEvent(previous, "rotation.revoked", now, { old_version: previous.old_version, new_version: previous.new_version, by_run_id: run.id, ...by })]);
      await audit(tx, previous, "revoke", now, "allowed", previous.old_version);
      return store.updateRun(tx, run.id, {}, stepRecord("revoke_previous", "succeeded", run.attempts + 1, now, `${checked}; version ${previous.old_version} of ${previous.id}: ${outcome.summary}`));
    });
  }

  /** The binding's propagation check: passes or throws `unavailable`; the summary for run history. */
  async function propagationCheck(binding: BindingRow): Promise<string> {
    const check = binding.propagation_check;
    if (!check) return "no propagation check configured";
    const res = await deps.http({ method: "GET", url: check.url, signal: aborts.signal, timeoutMs: check.timeout_seconds * 1000 });
    if (res.status !== check.expected_status) throw new ScaiVaultError("unavailable", `propagation check answered ${res.status}, expected ${check.expected_status}`);
    return `propagation check ${res.status}`;
  }

  async function verify(run: RunRow): Promise<RunRow> {
    const ctx = await contextOf(run);
    const summary = await propagationCheck(ctx.binding);
    return commit(run, async (tx, _secret, now) => {
      await appendEvents(tx, [runEvent(run, "rotation.completed", now, { old_version: run.old_version, new_version: run.new_version, revoke_at: run.revoke_at?.toISOString() ?? null })]);
      await audit(tx, run, "verify", now, "allowed", run.new_version);
      const revokeAt = run.revoke_at ?? now;
      return store.updateRun(
        tx,
        run.id,
        // Waiting out the grace period hands the run back; a revoke due already goes on under this claim.
        { step: "revoke", status: "waiting_grace", attempts: 0, next_attempt_at: revokeAt, claimed_until: revokeAt > now ? null : run.claimed_until, error: null },
        stepRecord("verify", "succeeded", run.attempts + 1, now, summary),
      );
    });
  }

  async function revoke(run: RunRow): Promise<RunRow> {
    const ctx = await contextOf(run);
    const outcome = await ctx.provider.revoke(ctx.call(await ctx.newData()), ctx.oldData ?? {});
    return commit(run, async (tx, secret, now) => {
      const old = await store.findVersionRow(tx, secret.id, run.old_version!);
      const until = old?.readable_until && old.readable_until < now ? old.readable_until : now;
      await store.setVersionState(tx, secret.id, run.old_version!, { rotation_state: "revoked", readable_until: until });
      await secretsStore.pruneVersions(tx, secret.id, secret.max_versions);
      if (ctx.binding.status === "failing") await store.updateBinding(tx, secret.id, { status: "active", updated_at: now });
      await appendEvents(tx, [runEvent(run, "rotation.revoked", now, { old_version: run.old_version, new_version: run.new_version })]);
      await audit(tx, run, "revoke", now, "allowed", run.old_version);
      return store.updateRun(
        tx,
        run.id,
        { step: "done", status: "succeeded", attempts: 0, finished_at: now, claimed_until: null, provider_response: outcome.summary, error: null },
        stepRecord("revoke", "succeeded", run.attempts + 1, now, outcome.summary),
      );
    });
  }

  // ---- failures ----

  /** A failed step: retried after a backoff while attempts remain, else the run fails without revoking anything. */
  async function afterFailure(run: RunRow, err: unknown): Promise<RunRow> {
    const message = safeMessage(err);
    if (!(err instanceof ScaiVaultError)) logger.error("rotation step failed unexpectedly", { runId: run.id, path: run.path, step: run.step, err });
    else logger.warn("rotation step failed", { runId: run.id, path: run.path, step: run.step, error: message });
    const binding = await store.findBinding(db, run.secret_id);
    const attempt = run.attempts + 1;
    const maxAttempts = binding?.max_attempts ?? 1;
    if (!(err instanceof TerminalStepError) && binding && attempt < maxAttempts) {
      return commit(run, async (tx, _secret, now) => {
        const retryAt = new Date(now.getTime() + backoffSeconds(attempt) * 1000);
        await audit(tx, run, run.step, now, "failed", run.new_version ?? undefined);
        // The run's first failed attempt is told at once (people can act before the last retry), the last one again by failRun.
        if (!run.steps.some((s) => s.status === "retrying")) {
          const { situation } = situationOf(run, now, retryAt);
          await appendEvents(tx, [runEvent(run, "rotation.failed", now, { step: run.step, error: message, attempt, will_retry: true, next_attempt_at: retryAt.toISOString(), revoked: false, situation })]);
        }
        return store.updateRun(
          tx,
          run.id,
          { attempts: attempt, next_attempt_at: retryAt, claimed_until: null, error: message },
          stepRecord(run.step, "retrying", attempt, now, `${message}; next attempt at ${retryAt.toISOString()}`),
        );
      });
    }
    return failRun(run, attempt, message);
  }

  /**
   * Ends a run as `failed`. Before promote the pending version is discarded and its credential
   * revoked at the provider; from verify on both credentials stay valid (the previous version
   * readable again, without a time limit) until a rollback or a new rotation resolves it.
   */
  async function failRun(run: RunRow, attempt: number, message: string): Promise<RunRow> {
    const beforePromote = BEFORE_PROMOTE_STEPS.includes(run.step);
    let discard: { provider: RotationProvider; call: ProviderCall; data: CredentialData } | undefined;
    const failed = await commit(run, async (tx, secret, now) => {
      if (beforePromote && run.new_version !== null) {
        const pending = await store.findVersionRow(tx, secret.id, run.new_version);
        if (pending?.rotation_state === "pending") {
          const provider = registry.get(run.provider);
          const binding = await store.findBinding(tx, secret.id);
          if (provider && binding) {
            const call = await callFor(tx, run, binding, secret);
            discard = { provider, call: call(await dataOf(tx, secret, run.old_version)), data: await openSecretValue(envelope, tx, secret, pending) };
          }
          await store.setVersionState(tx, secret.id, run.new_version, { rotation_state: "discarded", readable_until: now });
        }
      }
      if (!beforePromote && run.old_version !== null) {
        const old = await store.findVersionRow(tx, secret.id, run.old_version);
        if (old && old.rotation_state === null) await store.setVersionState(tx, secret.id, run.old_version, { readable_until: null });
      }
      await store.updateBinding(tx, secret.id, { status: "failing", updated_at: now });
      if (run.policy_id) {
        await insertHistory(tx, {
          tenant_id: secret.tenant_id,
          id: newHistoryId(),
          policy_id: run.policy_id,
          secret_id: secret.id,
          secret_path: secret.path,
          status: "failed",
          old_version: run.old_version,
          new_version: beforePromote ? null : run.new_version,
          rotated_at: now,
          rotated_by: run.actor,
          reason: run.triggered_by,
          error: `${run.step}: ${message}`,
        });
      }
      const { situation, waysOut } = situationOf(run, now);
      await appendEvents(tx, [runEvent(run, "rotation.failed", now, { step: run.step, error: message, attempt, will_retry: false, revoked: false, situation, ways_out: waysOut })]);
      await audit(tx, run, run.step, now, "failed", run.new_version ?? undefined);
      return store.updateRun(
        tx,
        run.id,
        { status: "failed", attempts: attempt, finished_at: now, claimed_until: null, error: `${run.step}: ${message}`, ...noSuppliedValue },
        stepRecord(run.step, "failed", attempt, now, `${message}. ${situationOf(run, now).situation}`),
      );
    });
    if (beforePromote) deps.readCache.invalidatePath(run.tenant_id, run.path);
    if (discard) {
      const outcome = await discardQuietly(run, discard.provider, discard.call, discard.data);
      await store.updateRun(db, run.id, {}, stepRecord("discard", outcome.ok ? "succeeded" : "failed", 1, clock.now(), outcome.summary));
    }
    return failed;
  }

  async function discardQuietly(run: RunRow, provider: RotationProvider, call: ProviderCall, data: CredentialData): Promise<{ ok: boolean; summary: string }> {
    try {
      return { ok: true, ...(await provider.discard(call, data)) };
    } catch (err) {
      const message = safeMessage(err);
      logger.error("discarding a half-created credential failed; it may still be valid at the provider", { runId: run.id, path: run.path, error: message });
      return { ok: false, summary: message };
    }
  }

  // ---- shared ----

  /**
   * Commits a step's outcome: locks the secret, then the run, and goes on only while the run is
   * still open and carries the fence this worker claimed it with.
   */
  async function commit(run: RunRow, body: (tx: Tx, secret: SecretRow, now: Date) => Promise<RunRow>): Promise<RunRow> {
    return inTransaction(db, async (tx) => {
      const secret = await tx.selectFrom("secrets").selectAll().where("id", "=", run.secret_id).forUpdate().executeTakeFirst();
      const fresh = await store.findRun(tx, run.id, true);
      if (!secret || !fresh || fresh.fence !== run.fence || !isOpen(fresh)) throw new LostClaim();
      if (secret.deleted_at) throw new TerminalStepError("secret_not_found", "the secret was deleted during the rotation");
      return body(tx, secret, clock.now());
    });
  }

  /** Everything a step needs: the provider, the binding, the call to make, the old and new data. */
  async function contextOf(run: RunRow) {
    const secret = await db.selectFrom("secrets").selectAll().where("id", "=", run.secret_id).executeTakeFirst();
    if (!secret) throw new LostClaim();
    const binding = await store.findBinding(db, run.secret_id);
    if (!binding) throw new TerminalStepError("invalid_request", "the secret's provider rotation was removed");
    const provider = registry.get(run.provider);
    if (!provider) throw new TerminalStepError("invalid_request", `provider ${run.provider} is not available`);
    const call = await callFor(db, run, binding, secret);
    const oldData = await dataOf(db, secret, run.old_version);
    return {
      secret,
      binding,
      provider,
      call,
      oldData,
      newData: async () => (await dataOf(db, secret, run.new_version)) ?? {},
    };
  }

  async function callFor(exec: Db | Tx, run: RunRow, binding: BindingRow, secret: SecretRow) {
    const credentials = await openCredentials(envelope, exec, secret.tenant_id, secret.path, binding);
    return (current: CredentialData | undefined): ProviderCall => ({
      tenantId: secret.tenant_id,
      path: secret.path,
      config: binding.config ?? {},
      credentials,
      current,
      clock,
      logger: logger.child({ runId: run.id }),
      signal: aborts.signal,
    });
  }

  async function dataOf(exec: Db | Tx, secret: SecretRow, version: number | null): Promise<JsonObject | undefined> {
    if (version === null) return undefined;
    const row = await secretsStore.findVersion(exec, secret.id, version);
    return row ? openSecretValue(envelope, exec, secret, row) : undefined;
  }

  return {
    runDue,
    driveToPromotion,
    /** Runs `runDue` every `tickSeconds`. */
    start(tickSeconds: number) {
      if (job) return;
      job = new Cron("* * * * * *", { interval: tickSeconds, protect: true }, async () => {
        inFlight = runDue().catch((err) => logger.error("rotation runner tick failed", { err }));
        await inFlight;
      });
    },
    /** Stops the timer, aborts provider calls in flight and waits for the tick. */
    async stop() {
      job?.stop();
      job = undefined;
      aborts.abort();
      await inFlight;
    },
  };
}

export type RotationRunner = ReturnType<typeof createRotationRunner>;

/** The grace period of a binding: its own, else its policy's, else 48h. */
export async function graceSecondsOf(exec: Db | Tx, binding: BindingRow): Promise<number> {
  if (binding.grace_period_seconds !== null) return binding.grace_period_seconds;
  if (binding.policy_id) {
    const policy = await findPolicy(exec, binding.tenant_id, binding.policy_id);
    if (policy) return policy.grace_period_seconds;
  }
  return DEFAULT_GRACE_SECONDS;
}

function isOpen(run: RunRow): boolean {
  return (store.OPEN_RUN_STATUSES as readonly string[]).includes(run.status);
}

function stepRecord(step: string, status: string, attempt: number, at: Date, detail: string): RunStepJson {
  return { step, status, attempt, at: at.toISOString(), detail };
}

/** A failure's text for run history, events and logs: our own messages only, never a provider's raw answer. */
function safeMessage(err: unknown): string {
  return err instanceof ScaiVaultError ? err.message : "the step failed unexpectedly";
}

/** Records one step of a run in the audit log (actor: who started the run, `system:rotation-scheduler` when scheduled). */
export async function audit(tx: Tx, run: RunRow, step: string, now: Date, outcome: string, version: number | null | undefined): Promise<void> {
  await appendAuditEntries(tx, [
    {
      time: now,
      requestId: run.id,
      actor: run.actor,
      actingTenant: run.tenant_id,
      targetTenant: run.tenant_id,
      action: `RotationRun.${step}`,
      path: run.path,
      version: version ?? undefined,
      outcome,
    },
  ]);
}

export function runEvent(run: RunRow, eventType: OutboxEvent["eventType"], now: Date, data: Record<string, unknown>): OutboxEvent {
  return {
    tenantId: run.tenant_id,
    eventType,
    path: run.path,
    policyId: run.policy_id ?? undefined,
    data: {
      run_id: run.id,
      provider: run.provider,
      triggered_by: run.triggered_by,
      ...(run.policy_id ? { policy_id: run.policy_id } : {}),
      // Receivers page on this: an emergency rotation revokes credentials ahead of their grace period.
      ...(run.emergency ? { emergency: true, reason: run.reason } : {}),
      ...data,
    },
    createdAt: now,
  };
}
