import type { JsonObject } from "@bufbuild/protobuf";
import { auditAllowed } from "../audit/call-audit.js";
import type { CallContext } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import type { Envelope } from "../crypto/envelope.js";
import { inTransaction, type Db, type Tx } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import { appendEvents } from "../events/outbox-store.js";
import type { Logger } from "../log.js";
import type { SecretReadCache } from "../secrets/secret-read-cache.js";
import { openSecretValue } from "../secrets/secret-value.js";
import * as secretsStore from "../secrets/secrets-store.js";
import type { SecretRow } from "../secrets/secrets-store.js";
import type { CredentialData, ProviderCall } from "./providers/provider.js";
import type { ProviderRegistry } from "./providers/registry.js";
import { openCredentials } from "./provider-credentials.js";
import { audit, runEvent, type RotationRunner } from "./rotation-runner.js";
import * as store from "./binding-store.js";
import type { BindingRow, RunRow } from "./binding-store.js";

/**
 * The ways out of a failed provider rotation, one module function each: `rollbackRun` (back to the
 * previous credential while it is valid), `retryRun` (re-run the failed step now) and `resolveRun`
 * (accept the new credential and revoke the old one now, skipping the check the operator knows
 * is wrong). Each is audited on the run and as the call, and tells event receivers.
 */
export interface WaysOutDeps {
  db: Db;
  envelope: Envelope;
  registry: ProviderRegistry;
  runner: RotationRunner;
  readCache: Pick<SecretReadCache, "invalidatePath">;
  clock: Clock;
  logger: Logger;
}

const PROMOTED_STEPS = ["verify", "revoke"];

/** A live secret and its binding, locked; `secret_not_found` otherwise. */
async function lockedBinding(tx: Tx, tenantId: string, path: string): Promise<{ secret: SecretRow; binding: BindingRow }> {
  const secret = await secretsStore.findSecret(tx, tenantId, path, true);
  if (!secret || secret.deleted_at) throw new ScaiVaultError("secret_not_found", "secret not found");
  const binding = await store.findBinding(tx, secret.id, true);
  if (!binding) throw new ScaiVaultError("secret_not_found", `secret ${path} has no provider rotation`);
  return { secret, binding };
}

/**
 * The newest run that promoted a credential whose old credential is still valid at the provider
 * (its version not yet revoked), while its new version is still current. Later runs that failed
 * before promote changed nothing and do not hide it.
 */
async function promotedRunWithOldValid(tx: Tx, secret: SecretRow): Promise<RunRow | undefined> {
  const latest = await store.findLastPromotedRun(tx, secret.id);
  if (!latest || latest.old_version === null || latest.new_version === null || !PROMOTED_STEPS.includes(latest.step)) return undefined;
  if (!["running", "waiting_grace", "failed"].includes(latest.status) || secret.current_version !== latest.new_version) return undefined;
  const old = await store.findVersionRow(tx, secret.id, latest.old_version);
  if (!old || old.rotation_state !== null) return undefined;
  return store.findRun(tx, latest.id, true);
}

/** The provider call of a way out, made outside any transaction. */
function callOf(deps: WaysOutDeps, binding: BindingRow, credentials: Record<string, unknown> | undefined, current: CredentialData, runId: string): ProviderCall {
  return {
    tenantId: binding.tenant_id,
    path: binding.path,
    config: binding.config ?? {},
    credentials,
    current,
    clock: deps.clock,
    logger: deps.logger.child({ runId }),
    signal: new AbortController().signal,
  };
}

/** Revokes `data` at the binding's provider; the outcome for the run's steps, never a raw provider message. */
async function revokeAtProvider(deps: WaysOutDeps, binding: BindingRow, call: ProviderCall, data: CredentialData, what: string): Promise<{ ok: boolean; detail: string }> {
  const provider = deps.registry.get(binding.provider);
  try {
    if (!provider) throw new ScaiVaultError("invalid_request", `provider ${binding.provider} is not available`);
    return { ok: true, detail: (await provider.revoke(call, data)).summary };
  } catch (err) {
    return { ok: false, detail: err instanceof ScaiVaultError ? err.message : `revoking ${what} failed` };
  }
}

/**
 * Makes the previous version current again while its credential is not yet revoked (restoring its
 * own `expires_at`), and revokes the new credential at the provider. The run is fenced off first,
 * so no worker can go on with it. `failed_precondition` when there is nothing to roll back.
 */
export async function rollbackRun(deps: WaysOutDeps, call: CallContext, path: string): Promise<RunRow> {
  const { db, envelope, clock } = deps;
  await envelope.prepareTenant(call.tenantId);
  const prepared = await inTransaction(db, async (tx) => {
    const { secret, binding } = await lockedBinding(tx, call.tenantId, path);
    const run = await promotedRunWithOldValid(tx, secret);
    if (!run) throw new ScaiVaultError("failed_precondition", await nothingToRollBack(tx, secret));
    const old = (await store.findVersionRow(tx, secret.id, run.old_version!))!;
    const fresh = await store.findVersionRow(tx, secret.id, run.new_version!);
    if (!fresh) throw new ScaiVaultError("failed_precondition", "nothing to roll back: the new version is gone");
    const now = clock.now();
    const newData = await openSecretValue(envelope, tx, secret, fresh);
    const oldData = await openSecretValue(envelope, tx, secret, old);
    await secretsStore.updateSecret(tx, secret.id, { current_version: old.version, updated_at: now, expires_at: run.old_expires_at });
    await store.setVersionState(tx, secret.id, old.version, { readable_until: null });
    await store.setVersionState(tx, secret.id, fresh.version, { rotation_state: "revoked", readable_until: now });
    await store.updateBinding(tx, secret.id, { status: binding.status === "paused" ? "paused" : "active", updated_at: now });
    await audit(tx, run, "rollback", now, "allowed", old.version);
    await auditAllowed(tx, clock, call, { path, version: old.version });
    const rolled = await store.updateRun(
      tx,
      run.id,
      { status: "rolled_back", step: "done", finished_at: now, claimed_until: null, fence: run.fence + 1, error: null },
      { step: "rollback", status: "succeeded", attempt: 1, at: now.toISOString(), detail: `by ${call.principal.subject}: version ${old.version} is current again; version ${fresh.version} retired` },
    );
    await appendEvents(tx, [runEvent(rolled, "rotation.revoked", now, { old_version: fresh.version, new_version: old.version, rolled_back_by: call.principal.subject })]);
    const credentials = await openCredentials(envelope, tx, secret.tenant_id, secret.path, binding);
    return { rolled, secret, binding, credentials, newData, oldData };
  });
  deps.readCache.invalidatePath(call.tenantId, path);
  const outcome = await revokeAtProvider(deps, prepared.binding, callOf(deps, prepared.binding, prepared.credentials, prepared.oldData as JsonObject, prepared.rolled.id), prepared.newData, "the rolled-back credential");
  const now = clock.now();
  return inTransaction(db, async (tx) => {
    if (!outcome.ok) await store.updateBinding(tx, prepared.secret.id, { status: "failing", updated_at: now });
    return store.updateRun(tx, prepared.rolled.id, outcome.ok ? {} : { error: `rollback revoke: ${outcome.detail}` }, { step: "revoke_new", status: outcome.ok ? "succeeded" : "failed", attempt: 1, at: now.toISOString(), detail: outcome.detail });
  });
}

async function nothingToRollBack(tx: Tx, secret: SecretRow): Promise<string> {
  const latest = await store.findLastPromotedRun(tx, secret.id);
  if (!latest) return "nothing to roll back: no rotation of this secret promoted a new credential";
  if (latest.status === "succeeded" || latest.status === "rolled_back") return `nothing to roll back: the previous credential of ${latest.id} is already revoked (run ${latest.status})`;
  if (secret.current_version !== latest.new_version) return `nothing to roll back: version ${latest.new_version} of ${latest.id} is no longer current`;
  return `nothing to roll back: version ${latest.old_version} of ${latest.id} is already revoked`;
}

/**
 * Re-runs the failed step of the secret's latest run now: a failure after promote goes back to
 * `verify` or `revoke` (both credentials stay valid meanwhile), a failure before promote starts
 * again at `preflight` (its half-created credential was discarded). The run is worked here until it
 * waits or ends. `failed_precondition` when the latest run did not fail.
 */
export async function retryRun(deps: WaysOutDeps, call: CallContext, path: string): Promise<RunRow> {
  const { db, clock } = deps;
  await deps.envelope.prepareTenant(call.tenantId);
  const reopened = await inTransaction(db, async (tx) => {
    const { secret, binding } = await lockedBinding(tx, call.tenantId, path);
    const latest = await store.findLatestRun(tx, secret.id);
    const run = latest && (await store.findRun(tx, latest.id, true));
    if (!run || run.status !== "failed") {
      throw new ScaiVaultError("failed_precondition", run ? `nothing to retry: the latest run ${run.id} is ${run.status}, not failed` : "nothing to retry: the secret has no rotation run");
    }
    const promoted = PROMOTED_STEPS.includes(run.step) && run.new_version !== null && secret.current_version === run.new_version;
    if (!promoted && run.old_version !== secret.current_version) {
      throw new ScaiVaultError("failed_precondition", `nothing to retry: the secret was written after run ${run.id} failed; rotate it instead`);
    }
    if (!promoted && deps.registry.get(run.provider)?.supplied?.required(binding.config ?? {})) {
      throw new ScaiVaultError("failed_precondition", `nothing to retry: run ${run.id} needs a new value you supply; rotate with new_value (POST /v1/secrets/${path}/rotate)`);
    }
    const now = clock.now();
    // Before promote the run starts again with its pre-flight check, then create.
    const step = promoted ? run.step : "preflight";
    const next = await store.updateRun(
      tx,
      run.id,
      {
        status: step === "revoke" ? "waiting_grace" : "running",
        step,
        attempts: 0,
        next_attempt_at: now,
        finished_at: null,
        claimed_until: null,
        fence: run.fence + 1,
        error: null,
        ...(promoted ? {} : { new_version: null, new_expires_at: null }),
      },
      { step: "retry", status: "succeeded", attempt: 1, at: now.toISOString(), detail: `by ${call.principal.subject}: ${step} runs again now` },
    );
    await audit(tx, next, "retry", now, "allowed", promoted ? run.new_version : run.old_version);
    await auditAllowed(tx, clock, call, { path });
    return next;
  });
  return (await deps.runner.driveToPromotion(reopened.id, true)) ?? reopened;
}

/**
 * Accepts the promoted credential of a run stuck at (or failed at) verify or revoke, and revokes
 * the old credential at the provider now, skipping the propagation check and what is left of the
 * grace period: for an operator who knows the check is wrong. Audited with the operator's reason.
 * When the provider refuses the revoke the run stays failed and the answer is `unavailable`.
 */
export async function resolveRun(deps: WaysOutDeps, call: CallContext, path: string, reason: string | undefined): Promise<RunRow> {
  const { db, envelope, clock } = deps;
  await envelope.prepareTenant(call.tenantId);
  const prepared = await inTransaction(db, async (tx) => {
    const { secret, binding } = await lockedBinding(tx, call.tenantId, path);
    const run = await promotedRunWithOldValid(tx, secret);
    if (!run) throw new ScaiVaultError("failed_precondition", `nothing to resolve: ${(await nothingToRollBack(tx, secret)).replace(/^nothing to roll back: /, "")}`);
    const now = clock.now();
    // Fenced and closed first: no worker goes on with the run while the provider is called.
    const held = await store.updateRun(
      tx,
      run.id,
      { status: "failed", finished_at: now, claimed_until: null, fence: run.fence + 1 },
      { step: "resolve", status: "started", attempt: 1, at: now.toISOString(), detail: `by ${call.principal.subject}${reason ? ` (${reason})` : ""}: accepting version ${run.new_version}, revoking version ${run.old_version} now` },
    );
    const old = (await store.findVersionRow(tx, secret.id, run.old_version!))!;
    const oldData = await openSecretValue(envelope, tx, secret, old);
    const newData = await openSecretValue(envelope, tx, secret, (await store.findVersionRow(tx, secret.id, run.new_version!))!);
    const credentials = await openCredentials(envelope, tx, secret.tenant_id, secret.path, binding);
    return { run: held, binding, oldData, newData, credentials };
  });
  const outcome = await revokeAtProvider(deps, prepared.binding, callOf(deps, prepared.binding, prepared.credentials, prepared.newData, prepared.run.id), prepared.oldData, "the old credential");
  const finished = await inTransaction(db, async (tx) => {
    const { secret } = await lockedBinding(tx, call.tenantId, path);
    const now = clock.now();
    const run = prepared.run;
    if (!outcome.ok) {
      await store.updateBinding(tx, secret.id, { status: "failing", updated_at: now });
      await audit(tx, run, "resolve", now, "failed", run.old_version);
      return store.updateRun(tx, run.id, { error: `resolve: ${outcome.detail}` }, { step: "resolve", status: "failed", attempt: 1, at: now.toISOString(), detail: outcome.detail });
    }
    await store.setVersionState(tx, secret.id, run.old_version!, { rotation_state: "revoked", readable_until: now });
    await secretsStore.pruneVersions(tx, secret.id, secret.max_versions);
    await store.updateBinding(tx, secret.id, { status: prepared.binding.status === "paused" ? "paused" : "active", updated_at: now });
    const done = await store.updateRun(
      tx,
      run.id,
      { status: "succeeded", step: "done", finished_at: now, error: null, provider_response: outcome.detail },
      { step: "revoke", status: "succeeded", attempt: 1, at: now.toISOString(), detail: `${outcome.detail}; resolved by ${call.principal.subject}, propagation check skipped` },
    );
    await appendEvents(tx, [runEvent(done, "rotation.revoked", now, { old_version: run.old_version, new_version: run.new_version, resolved_by: call.principal.subject, reason: reason ?? null, check_skipped: true })]);
    await audit(tx, done, "resolve", now, "allowed", run.old_version);
    await auditAllowed(tx, clock, call, { path, version: run.old_version! });
    return done;
  });
  deps.readCache.invalidatePath(call.tenantId, path);
  if (!outcome.ok) throw new ScaiVaultError("unavailable", `resolve failed: revoking version ${prepared.run.old_version} at the provider failed (${outcome.detail}); both credentials stay valid; retry or roll back`);
  return finished;
}
