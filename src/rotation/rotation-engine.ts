import type { JsonObject } from "@bufbuild/protobuf";
import { secretAad, type Envelope } from "../crypto/envelope.js";
import type { Tx } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import { appendEvents } from "../events/outbox-store.js";
import type { RotationLinks } from "../secrets/secrets-service.js";
import * as secretsStore from "../secrets/secrets-store.js";
import type { SecretRow } from "../secrets/secrets-store.js";
import { openSecretValue } from "../secrets/secret-value.js";
import { generateData } from "./rotation-links.js";
import * as store from "./rotation-store.js";
import type { HistoryRow, PolicyRow } from "./rotation-store.js";

/** The actor of scheduled rotations, in history items and versions. */
export const SCHEDULER_ACTOR = "system:rotation-scheduler";

/** One secret to rotate under one policy; the caller holds the secret's and the assignment's row locks. */
export interface RotationTarget {
  policy: PolicyRow;
  secret: SecretRow;
  actor: string;
  reason: string;
  now: Date;
}

/** What the scheduler will do after a failed attempt, told to event receivers. */
export interface RetryNotice {
  attempt: number;
  willRetry: boolean;
  nextAttemptAt: Date;
}

export interface RotationEngineDeps {
  envelope: Envelope;
  links: RotationLinks;
}

/**
 * The three things a rotation does to one secret, shared by the scheduler and "rotate now": write a
 * generated version, announce a due rotation to an event-driven policy's automation, warn ahead of
 * one. Each writes its history item and its outbox event in the caller's transaction.
 */
export function createRotationEngine(deps: RotationEngineDeps) {
  const { envelope, links } = deps;

  async function currentData(tx: Tx, secret: SecretRow): Promise<JsonObject> {
    const row = await secretsStore.findVersion(tx, secret.id, secret.current_version);
    if (!row) throw new ScaiVaultError("version_not_found", "the current version is missing");
    try {
      return await openSecretValue(envelope, tx, secret, row);
    } catch {
      throw new ScaiVaultError("internal", "the current version could not be decrypted");
    }
  }

  /** Writes a generated version (the previous one stays readable for the grace period), or records why it could not. */
  async function rotateGenerated(tx: Tx, t: RotationTarget, retry?: RetryNotice): Promise<HistoryRow> {
    const { policy, secret, now } = t;
    const previous = secret.current_version;
    let data: JsonObject;
    try {
      data = await generateData(tx, secret.tenant_id, secret.secret_policy_id ?? policy.secret_policy_id, await currentData(tx, secret));
    } catch (err) {
      // Only our own messages reach history and events: they name policies and rules, never values.
      const error = err instanceof Error ? err.message : "value generation failed";
      const item = await store.insertHistory(tx, {
        tenant_id: secret.tenant_id,
        id: store.newHistoryId(),
        policy_id: policy.id,
        secret_id: secret.id,
        secret_path: secret.path,
        status: "failed",
        old_version: previous,
        new_version: null,
        rotated_at: now,
        rotated_by: t.actor,
        reason: t.reason,
        error,
      });
      await appendEvents(tx, [
        {
          tenantId: secret.tenant_id,
          eventType: "rotation.failed",
          path: secret.path,
          policyId: policy.id,
          data: {
            policy_id: policy.id,
            policy_name: policy.name,
            error,
            ...(retry ? { attempt: retry.attempt, will_retry: retry.willRetry, next_attempt_at: rfc3339(retry.nextAttemptAt) } : {}),
          },
          createdAt: now,
        },
      ]);
      return item;
    }

    const version = previous + 1;
    await secretsStore.updateSecret(tx, secret.id, { current_version: version, updated_at: now });
    const sealed = await envelope.encrypt(tx, secret.tenant_id, secretAad(secret.tenant_id, secret.path, version), Buffer.from(JSON.stringify(data), "utf8"));
    await secretsStore.insertVersion(tx, { secretId: secret.id, version, sealed, createdAt: now, createdBy: t.actor });
    await secretsStore.setVersionReadableUntil(tx, secret.id, previous, new Date(now.getTime() + policy.grace_period_seconds * 1000));
    await secretsStore.pruneVersions(tx, secret.id, secret.max_versions);
    const item = await store.recordSuccess(tx, {
      tenantId: secret.tenant_id,
      policyId: policy.id,
      secretId: secret.id,
      path: secret.path,
      oldVersion: previous,
      newVersion: version,
      at: now,
      by: t.actor,
      reason: t.reason,
    });
    await links.versionWritten(tx, { tenantId: secret.tenant_id, secretId: secret.id, path: secret.path, oldVersion: previous, newVersion: version, now, actor: t.actor, rotation: true });
    await appendEvents(tx, [
      {
        tenantId: secret.tenant_id,
        eventType: "rotation.completed",
        path: secret.path,
        policyId: policy.id,
        data: { policy_id: policy.id, policy_name: policy.name, old_version: previous, new_version: version, rotated_by: t.actor, reason: t.reason },
        createdAt: now,
      },
    ]);
    return item;
  }

  /**
   * Tells an event-driven policy's automation that the rotation is due (`rotation.due`, `due_now: true`)
   * and keeps a `pending` item that the next written version completes. A secret has at most one
   * open pending item per policy: announcing again reuses it.
   */
  async function announceDue(tx: Tx, t: RotationTarget, dueAt: Date): Promise<HistoryRow> {
    const { policy, secret, now } = t;
    const item =
      (await store.findOpenPending(tx, secret.id, policy.id)) ??
      (await store.insertHistory(tx, {
        tenant_id: secret.tenant_id,
        id: store.newHistoryId(),
        policy_id: policy.id,
        secret_id: secret.id,
        secret_path: secret.path,
        status: "pending",
        old_version: secret.current_version,
        new_version: null,
        rotated_at: now,
        rotated_by: t.actor,
        reason: t.reason,
        error: null,
      }));
    await appendEvents(tx, [dueEvent(policy, secret, dueAt, now, true)]);
    return item;
  }

  /** Sends the `rotation.due` warning (`due_now: false`) of one warn_before threshold. */
  async function warn(tx: Tx, t: RotationTarget, dueAt: Date, warnBefore: string): Promise<void> {
    const event = dueEvent(t.policy, t.secret, dueAt, t.now, false);
    event.data.warn_before = warnBefore;
    await appendEvents(tx, [event]);
  }

  return { rotateGenerated, announceDue, warn };
}

export type RotationEngine = ReturnType<typeof createRotationEngine>;

function dueEvent(policy: PolicyRow, secret: SecretRow, dueAt: Date, now: Date, dueNow: boolean) {
  return {
    tenantId: secret.tenant_id,
    eventType: "rotation.due" as const,
    path: secret.path,
    policyId: policy.id,
    data: { policy_id: policy.id, policy_name: policy.name, next_rotation_at: rfc3339(dueAt), due_now: dueNow } as Record<string, unknown>,
    createdAt: now,
  };
}

/** RFC 3339 UTC as the API renders it (`2026-04-23T14:00:00Z`). */
function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.000Z$/, "Z");
}
