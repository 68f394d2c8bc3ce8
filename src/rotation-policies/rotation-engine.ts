import type { JsonObject } from "@bufbuild/protobuf";
import type { Insertable } from "kysely";
import { secretAad, type Envelope, type SealedValue } from "../crypto/envelope.js";
import { appendAuditEntries } from "../audit/audit-store.js";
import type { Tx } from "../db/database.js";
import type { RotationHistoryTable } from "../db/schema.js";
import { ScaiVaultError } from "../errors.js";
import { appendEvents, type OutboxEvent } from "../events/outbox-store.js";
import type { SecretRow, VersionRow } from "../secrets/secrets-store.js";
import { openSecretValue } from "../secrets/secret-value.js";
import * as batch from "./policy-batch-store.js";
import { findSecretPolicyOrThrow, generateWith, type SecretPolicyRow } from "./policy-links.js";
import * as store from "./policy-store.js";
import type { HistoryRow, PolicyRow } from "./policy-store.js";
import type { RotationWindow } from "../rotation-planning/rotation-window.js";

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

/** One generated rotation of a batch. */
export interface GeneratedRotation {
  target: RotationTarget;
  retry?: RetryNotice;
}

/** A generated rotation before anything is written: the sealed next version, or why there is none. */
type Generated = { version: number; sealed: SealedValue } | { error: string };

export interface RotationEngineDeps {
  envelope: Envelope;
}

/**
 * The three things a rotation does to a secret, shared by the scheduler and "rotate now": write a
 * generated version (for one secret or a batch), announce a due rotation to an event-driven
 * policy's automation, warn ahead of one. Each writes its history item and its outbox event in the
 * caller's transaction.
 */
export function createRotationEngine(deps: RotationEngineDeps) {
  const { envelope } = deps;

  /** Writes a generated version (the previous one stays readable for the grace period), or records why it could not. */
  async function rotateGenerated(tx: Tx, t: RotationTarget, retry?: RetryNotice): Promise<HistoryRow> {
    const [item] = await rotateGeneratedAll(tx, [{ target: t, retry }]);
    return item!;
  }

  /**
   * `rotateGenerated` for many secrets (each at most once) with one statement per table for the
   * whole batch: a secret whose generation fails gets its `failed` item and the others still
   * rotate. Returns the history items in the order of `rotations`.
   */
  async function rotateGeneratedAll(tx: Tx, rotations: GeneratedRotation[]): Promise<HistoryRow[]> {
    if (rotations.length === 0) return [];
    const currents = await batch.findCurrentVersions(tx, rotations.map((r) => r.target.secret));
    const secretPolicies = secretPolicyReader(tx);
    const generated: Generated[] = [];
    for (const { target } of rotations) generated.push(await generate(tx, target, currents.get(target.secret.id), secretPolicies));

    const written = rotations.flatMap(({ target }, i) => {
      const g = generated[i]!;
      return "error" in g ? [] : [rotatedVersion(target, g.version, g.sealed)];
    });
    await batch.writeRotatedVersions(tx, written);
    // A success completes the secret's open pending item (the rotation it answers), or gets an item of its own.
    const completed = await batch.completePendingItems(tx, written);
    const newItems = rotations.flatMap(({ target }, i) => (completed.has(target.secret.id) ? [] : [historyItem(target, generated[i]!)]));
    const inserted = new Map((await batch.insertHistoryItems(tx, newItems)).map((row) => [row.secret_id, row]));
    await batch.startNextCycles(tx, written);
    // Scheduled rotations have no call to audit them; their rows name the scheduler as the actor.
    await appendAuditEntries(
      tx,
      rotations.flatMap(({ target }, i) => {
        const g = generated[i]!;
        if (target.actor !== SCHEDULER_ACTOR) return [];
        return [
          {
            time: target.now,
            requestId: `scheduled:${target.policy.id}`,
            actor: SCHEDULER_ACTOR,
            actingTenant: target.secret.tenant_id,
            targetTenant: target.secret.tenant_id,
            action: "RotateSecret",
            path: target.secret.path,
            version: "error" in g ? undefined : g.version,
            outcome: "error" in g ? "failed" : "allowed",
          },
        ];
      }),
    );
    await appendEvents(
      tx,
      rotations.map(({ target, retry }, i) => {
        const g = generated[i]!;
        return "error" in g ? failedEvent(target, g.error, retry) : completedEvent(target, g.version);
      }),
    );
    return rotations.map(({ target }) => completed.get(target.secret.id) ?? inserted.get(target.secret.id)!);
  }

  /** The sealed next version of a target's secret, or why it could not be generated. */
  async function generate(tx: Tx, t: RotationTarget, current: VersionRow | undefined, secretPolicies: SecretPolicyReader): Promise<Generated> {
    const { policy, secret } = t;
    let data: JsonObject;
    try {
      const currentValue = await currentData(tx, secret, current);
      data = generateWith(await secretPolicies(secret.tenant_id, secret.secret_policy_id ?? policy.secret_policy_id), currentValue);
    } catch (err) {
      // Only our own messages reach history and events: they name policies and rules, never values.
      // Anything else (a driver's or the runtime's message) could carry internals, so it is not passed on.
      return { error: err instanceof ScaiVaultError ? err.message : "value generation failed" };
    }
    const version = secret.current_version + 1;
    const sealed = await envelope.encrypt(tx, secret.tenant_id, secretAad(secret.tenant_id, secret.path, version), Buffer.from(JSON.stringify(data), "utf8"));
    return { version, sealed };
  }

  async function currentData(tx: Tx, secret: SecretRow, row: VersionRow | undefined): Promise<JsonObject> {
    if (!row) throw new ScaiVaultError("version_not_found", "the current version is missing");
    try {
      return await openSecretValue(envelope, tx, secret, row);
    } catch {
      throw new ScaiVaultError("internal", "the current version could not be decrypted");
    }
  }

  /**
   * Tells an event-driven policy's automation that the rotation is due (`rotation.due`, `due_now: true`)
   * and keeps a `pending` item that the next written version completes. A secret has at most one
   * open pending item per policy: announcing again reuses it.
   */
  async function announceDue(tx: Tx, t: RotationTarget, dueAt: Date, window?: ScheduledWindow): Promise<HistoryRow> {
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
    await appendEvents(tx, [dueEvent(policy, secret, dueAt, now, true, window)]);
    return item;
  }

  /** Sends the `rotation.due` warning (`due_now: false`) of one warn_before threshold. */
  async function warn(tx: Tx, t: RotationTarget, dueAt: Date, warnBefore: string, window?: ScheduledWindow): Promise<void> {
    const event = dueEvent(t.policy, t.secret, dueAt, t.now, false, window);
    event.data.warn_before = warnBefore;
    await appendEvents(tx, [event]);
  }

  /**
   * Records why a rotation did not happen inside its window, which closed at `t.now` or before: a
   * `skipped` item (reason `window_missed`) when it never started, or, when an event-driven
   * policy's automation was told and wrote no new version in time, its `pending` item becomes
   * `failed`. The caller moves the assignment to the next window.
   */
  async function missWindow(tx: Tx, t: RotationTarget, missed: RotationWindow, next: RotationWindow, announced: boolean): Promise<void> {
    const { policy, secret } = t;
    const span = `${rfc3339(missed.opensAt)} to ${missed.closesAt ? rfc3339(missed.closesAt) : "(no close)"}`;
    const waits = `the rotation waits for the next window, opening ${rfc3339(next.opensAt)}`;
    if (announced) {
      await store.failOpenPending(tx, secret.id, policy.id, `no new version was written inside the rotation window ${span}; ${waits}`);
      return;
    }
    await store.insertHistory(tx, {
      tenant_id: secret.tenant_id,
      id: store.newHistoryId(),
      policy_id: policy.id,
      secret_id: secret.id,
      secret_path: secret.path,
      status: "skipped",
      old_version: secret.current_version,
      new_version: null,
      rotated_at: t.now,
      rotated_by: t.actor,
      reason: "window_missed",
      error: `the rotation window ${span} closed before the rotation could start (the scheduler did not run in it); ${waits}`,
    });
  }

  return { rotateGenerated, rotateGeneratedAll, announceDue, warn, missWindow };
}

export type RotationEngine = ReturnType<typeof createRotationEngine>;

/** Reads each secret policy once per batch; a missing one rejects every rotation that names it alike. */
type SecretPolicyReader = (tenantId: string, id: string | null) => Promise<SecretPolicyRow | undefined>;

function secretPolicyReader(tx: Tx): SecretPolicyReader {
  const read = new Map<string, Promise<SecretPolicyRow>>();
  return async (tenantId, id) => {
    if (id === null) return undefined;
    const key = `${tenantId}\0${id}`;
    let row = read.get(key);
    if (!row) read.set(key, (row = findSecretPolicyOrThrow(tx, tenantId, id)));
    return row;
  };
}

function rotatedVersion(t: RotationTarget, version: number, sealed: SealedValue): batch.RotatedVersion {
  return {
    secretId: t.secret.id,
    previousVersion: t.secret.current_version,
    version,
    sealed,
    at: t.now,
    by: t.actor,
    reason: t.reason,
    previousReadableUntil: new Date(t.now.getTime() + t.policy.grace_period_seconds * 1000),
    keep: t.secret.max_versions,
  };
}

function historyItem(t: RotationTarget, g: Generated): Insertable<RotationHistoryTable> {
  const failed = "error" in g;
  return {
    tenant_id: t.secret.tenant_id,
    id: store.newHistoryId(),
    policy_id: t.policy.id,
    secret_id: t.secret.id,
    secret_path: t.secret.path,
    status: failed ? "failed" : "success",
    old_version: t.secret.current_version,
    new_version: failed ? null : g.version,
    rotated_at: t.now,
    rotated_by: t.actor,
    reason: t.reason,
    error: failed ? g.error : null,
  };
}

function completedEvent(t: RotationTarget, version: number): OutboxEvent {
  const { policy, secret } = t;
  return {
    tenantId: secret.tenant_id,
    eventType: "rotation.completed",
    path: secret.path,
    policyId: policy.id,
    data: { policy_id: policy.id, policy_name: policy.name, old_version: secret.current_version, new_version: version, rotated_by: t.actor, reason: t.reason },
    createdAt: t.now,
  };
}

function failedEvent(t: RotationTarget, error: string, retry: RetryNotice | undefined): OutboxEvent {
  const { policy, secret } = t;
  return {
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
    createdAt: t.now,
  };
}

/** The window of a scheduled policy's rotation, told to event receivers beside `next_rotation_at`. */
export type ScheduledWindow = RotationWindow;

function dueEvent(policy: PolicyRow, secret: SecretRow, dueAt: Date, now: Date, dueNow: boolean, window: ScheduledWindow | undefined) {
  const data: Record<string, unknown> = { policy_id: policy.id, policy_name: policy.name, next_rotation_at: rfc3339(dueAt), due_now: dueNow };
  if (window) {
    data.window_opens_at = rfc3339(window.opensAt);
    data.window_closes_at = window.closesAt ? rfc3339(window.closesAt) : null;
  }
  return { tenantId: secret.tenant_id, eventType: "rotation.due" as const, path: secret.path, policyId: policy.id, data, createdAt: now };
}

/** RFC 3339 UTC as the API renders it (`2026-04-23T14:00:00Z`). */
function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.000Z$/, "Z");
}
