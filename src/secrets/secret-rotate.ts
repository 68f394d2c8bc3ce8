import type { JsonObject } from "@bufbuild/protobuf";
import { auditAllowed, recordChange } from "../audit/call-audit.js";
import type { CallContext } from "../auth/principal.js";
import { ScaiVaultError } from "../errors.js";
import { liveSecret } from "./live-secret.js";
import { DEFAULT_GRACE_SECONDS, parseGracePeriod, requireData } from "./secret-input.js";
import { validateSecretPath } from "./secret-path.js";
import { writeVersion } from "./secret-writes.js";
import { decryptVersion, writing, type SecretsServiceDeps } from "./secrets-deps.js";
import * as store from "./secrets-store.js";

// A rotation asked for by a call: a new version now, the previous one readable for a grace period.

/** What a rotate call asks for. */
export interface RotateInput {
  reason?: string;
  newValue?: JsonObject;
  gracePeriod?: string;
  /** Rotate now even inside an earlier grace period (needs admin); see src/provider-rotation/emergency-rotation.ts. */
  emergency?: boolean;
}

/** What a rotate call answers. */
export interface RotateOutcome {
  path: string;
  version: number;
  previousVersion: number;
  rotatedAt: Date;
  previousReadableUntil: Date | undefined;
  emergency: boolean;
  runId?: string;
  revokedVersion?: number;
  detail?: string;
}

/** Writes a new version now and keeps the previous one readable for the grace period only. */
export async function rotate(deps: SecretsServiceDeps, call: CallContext, path: string, input: RotateInput): Promise<RotateOutcome> {
  const { envelope, clock, rotation } = deps;
  validateSecretPath(path);
  const ownerId = call.tenantId;
  const graceOverride = input.gracePeriod !== undefined && input.gracePeriod !== "" ? parseGracePeriod(input.gracePeriod) : undefined;
  if (input.newValue !== undefined) requireData(input.newValue, "new_value");
  if (input.emergency && !call.principal.scopes.has("admin")) {
    throw new ScaiVaultError("access_denied", "an emergency rotation needs the admin scope besides secrets:rotate");
  }
  const bound = deps.providerRotation && (await rotateThroughProvider(deps, call, path, input, graceOverride));
  if (bound) return bound;
  await envelope.prepareTenant(ownerId);
  return writing(deps, ownerId, path, async (tx) => {
    const secret = await liveSecret(tx, ownerId, path, true);
    const now = clock.now();
    const policy = secret.rotation_policy_id ? await rotation.requirePolicy(tx, ownerId, secret.rotation_policy_id).catch(() => undefined) : undefined;
    let data = input.newValue;
    if (!data) {
      const current = await decryptVersion(deps, tx, secret, secret.current_version);
      data = await rotation.generateValue(tx, ownerId, secret, current.data);
      if (!data) throw new ScaiVaultError("invalid_request", "new_value is required unless the secret's rotation policy has auto_generate: true");
    }
    const graceSeconds = graceOverride ?? policy?.gracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
    const previous = secret.current_version;
    const version = await store.advanceToNextVersion(tx, secret.id, { updated_at: now });
    await writeVersion(deps, tx, secret, version, data, call.principal.subject, now);
    const readableUntil = new Date(now.getTime() + graceSeconds * 1000);
    await store.setVersionReadableUntil(tx, secret.id, previous, readableUntil);
    await rotation.recordRotation(tx, {
      tenantId: ownerId,
      policyId: secret.rotation_policy_id,
      secretId: secret.id,
      path,
      oldVersion: previous,
      newVersion: version,
      at: now,
      by: call.principal.subject,
      reason: input.reason,
    });
    await rotation.versionWritten(tx, { tenantId: ownerId, secretId: secret.id, path, oldVersion: previous, newVersion: version, now, actor: call.principal.subject, rotation: true });
    await recordChange(
      tx,
      clock,
      call,
      [
      {
        tenantId: ownerId,
        eventType: "rotation.completed",
        path,
        policyId: secret.rotation_policy_id ?? undefined,
        data: {
          ...(secret.rotation_policy_id ? { policy_id: secret.rotation_policy_id, policy_name: policy?.name ?? null } : {}),
          old_version: previous,
          new_version: version,
          rotated_by: call.principal.subject,
          reason: input.reason ?? null,
          ...(input.emergency ? { emergency: true } : {}),
        },
        createdAt: now,
      },
      ],
      { path, version },
    );
    return { path, version, previousVersion: previous, rotatedAt: now, previousReadableUntil: readableUntil, emergency: input.emergency ?? false };
  });
}

/** A secret bound to a provider rotates there: the answer comes once the run is promoted (or failed). */
export async function rotateThroughProvider(deps: SecretsServiceDeps, call: CallContext, path: string, input: RotateInput, graceSeconds: number | undefined): Promise<RotateOutcome | undefined> {
  const { db, clock, cache } = deps;
  const secret = await liveSecret(db, call.tenantId, path);
  const promoted = await deps.providerRotation!.rotateBound(call, secret, { newValue: input.newValue, graceSeconds, emergency: input.emergency ?? false, reason: input.reason });
  if (!promoted) return undefined;
  cache.invalidatePath(call.tenantId, path);
  await auditAllowed(db, clock, call, { path, version: promoted.version });
  return { path, ...promoted };
}
