import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  DeleteRotationPolicyResponseSchema,
  DetachSecretResponseSchema,
  DeleteSecretRotationResponseSchema,
  DueSecretSchema,
  ListRotationRunsResponseSchema,
  ListSecretRotationsResponseSchema,
  PreflightCheckSchema,
  PropagationCheckSchema,
  SecretRotationTestSchema,
  RotationRunSchema,
  RotationRunStepSchema,
  SecretRotationSchema,
  ListDueSecretsResponseSchema,
  ListRotationHistoryResponseSchema,
  ListRotationPoliciesResponseSchema,
  RotatePolicyResponseSchema,
  RotationHistoryItemSchema,
  RotationPolicySchema,
  SecretAssignmentSchema,
  type RotationService as RotationServiceDesc,
} from "../../gen/scaivault/v1/rotation_pb.js";
import { asCreated, callOf, stringListOf, tsOf } from "../handler-support.js";
import type { JsonObject } from "@bufbuild/protobuf";
import type { PolicyView, RotationService } from "./policy-service.js";
import type { AssignmentRow, HistoryRow, PolicyWithCount } from "./policy-store.js";
import type { SecretRotationService, SecretRotationView } from "../provider-rotation/binding-service.js";
import type { RunRow } from "../provider-rotation/binding-store.js";

/** Thin handlers: read the call, call the service, build the reply. */
export function createRotationHandler(service: RotationService, secretRotations: SecretRotationService): ServiceImpl<typeof RotationServiceDesc> {
  return {
    async configureSecretRotation(req, ctx) {
      const { view, created } = await secretRotations.configure(callOf(ctx), req.path, {
        provider: req.provider,
        config: req.config as Record<string, unknown> | undefined,
        credentials: req.credentials as Record<string, unknown> | undefined,
        policyId: req.policyId,
        gracePeriod: req.gracePeriod,
        propagationCheck: req.propagationCheck
          ? { url: req.propagationCheck.url, expectedStatus: req.propagationCheck.expectedStatus, timeout: req.propagationCheck.timeout }
          : undefined,
        maxAttempts: req.maxAttempts,
        schedule: { interval: req.interval, intervalDays: req.intervalDays, schedule: req.schedule, timezone: req.timezone, rotationWindow: req.rotationWindow },
      });
      return created ? asCreated(secretRotationMessage(view)) : secretRotationMessage(view);
    },

    async getSecretRotation(req, ctx) {
      return secretRotationMessage(await secretRotations.get(callOf(ctx), req.path));
    },

    async listSecretRotations(req, ctx) {
      const r = await secretRotations.list(callOf(ctx), { status: req.status, provider: req.provider, prefix: req.prefix, limit: req.limit, cursor: req.cursor });
      return create(ListSecretRotationsResponseSchema, { data: r.data.map(secretRotationMessage), cursor: r.cursor, hasMore: r.hasMore });
    },

    async deleteSecretRotation(req, ctx) {
      return create(DeleteSecretRotationResponseSchema, await secretRotations.remove(callOf(ctx), req.path));
    },

    async pauseSecretRotation(req, ctx) {
      return secretRotationMessage(await secretRotations.setPaused(callOf(ctx), req.path, true));
    },

    async resumeSecretRotation(req, ctx) {
      return secretRotationMessage(await secretRotations.setPaused(callOf(ctx), req.path, false));
    },

    async listRotationRuns(req, ctx) {
      const r = await secretRotations.runs(callOf(ctx), req.path, { status: req.status, limit: req.limit, cursor: req.cursor });
      return create(ListRotationRunsResponseSchema, { data: r.data.map(runMessage), cursor: r.cursor, hasMore: r.hasMore });
    },

    async rollbackSecretRotation(req, ctx) {
      return runMessage(await secretRotations.rollback(callOf(ctx), req.path));
    },

    async retrySecretRotation(req, ctx) {
      return runMessage(await secretRotations.retry(callOf(ctx), req.path));
    },

    async resolveSecretRotation(req, ctx) {
      return runMessage(await secretRotations.resolve(callOf(ctx), req.path, req.reason));
    },

    async testSecretRotation(req, ctx) {
      const t = await secretRotations.testConnection(callOf(ctx), req.path);
      return create(SecretRotationTestSchema, {
        path: t.path,
        provider: t.provider,
        ok: t.report.ok,
        checks: t.report.checks.map((c) => create(PreflightCheckSchema, c)),
        checkedAt: tsOf(t.checkedAt),
      });
    },

    async listRotationPolicies(req, ctx) {
      const r = await service.list(callOf(ctx), { activeOnly: req.activeOnly, limit: req.limit, cursor: req.cursor });
      return create(ListRotationPoliciesResponseSchema, { data: r.policies.map(policyMessage), cursor: r.cursor, hasMore: r.hasMore });
    },

    async createRotationPolicy(req, ctx) {
      const policy = await service.create(callOf(ctx), {
        name: req.name,
        description: req.description,
        interval: req.interval,
        schedule: req.schedule,
        timezone: req.timezone,
        rotationWindow: req.rotationWindow,
        gracePeriod: req.gracePeriod,
        warnBefore: req.warnBefore,
        autoGenerate: req.autoGenerate,
        secretPolicyId: req.secretPolicyId,
        webhookIds: req.webhookIds,
      });
      return asCreated(policyMessage(policy));
    },

    async getRotationPolicy(req, ctx) {
      return policyMessage(await service.get(callOf(ctx), req.id));
    },

    async updateRotationPolicy(req, ctx) {
      const policy = await service.update(callOf(ctx), req.id, {
        description: req.description,
        interval: req.interval,
        schedule: req.schedule,
        timezone: req.timezone,
        rotationWindow: req.rotationWindow,
        gracePeriod: req.gracePeriod,
        warnBefore: req.warnBefore,
        autoGenerate: req.autoGenerate,
        secretPolicyId: req.secretPolicyId,
        webhookIds: stringListOf(req.webhookIds, "webhook_ids"),
      });
      return policyMessage(policy);
    },

    async deleteRotationPolicy(req, ctx) {
      return create(DeleteRotationPolicyResponseSchema, await service.remove(callOf(ctx), req.id));
    },

    async enableRotationPolicy(req, ctx) {
      return policyMessage(await service.setActive(callOf(ctx), req.id, true));
    },

    async disableRotationPolicy(req, ctx) {
      return policyMessage(await service.setActive(callOf(ctx), req.id, false));
    },

    async assignSecret(req, ctx) {
      const { assignment, created } = await service.assign(callOf(ctx), req.id, req.secretPath);
      return created ? asCreated(assignmentMessage(assignment)) : assignmentMessage(assignment);
    },

    async detachSecret(req, ctx) {
      return create(DetachSecretResponseSchema, await service.detach(callOf(ctx), req.id, req.secretPath));
    },

    async rotatePolicy(req, ctx) {
      const items = await service.rotateNow(callOf(ctx), req.id, req.secretPaths);
      return create(RotatePolicyResponseSchema, { items: items.map(historyMessage) });
    },

    async listRotationHistory(req, ctx) {
      const r = await service.history(callOf(ctx), req.id, { status: req.status, limit: req.limit, cursor: req.cursor });
      return create(ListRotationHistoryResponseSchema, { data: r.items.map(historyMessage), cursor: r.cursor, hasMore: r.hasMore });
    },

    async listDueSecrets(req, ctx) {
      const rows = await service.due(callOf(ctx), { withinHours: req.withinHours, includeOverdue: req.includeOverdue, policyId: req.policyId });
      return create(ListDueSecretsResponseSchema, {
        secrets: rows.map((r) =>
          create(DueSecretSchema, {
            path: r.path,
            policyId: r.policyId,
            policyName: r.policyName,
            nextRotationAt: tsOf(r.nextRotationAt),
            isOverdue: r.isOverdue,
            windowOpensAt: tsOf(r.windowOpensAt),
            windowClosesAt: tsOf(r.windowClosesAt),
          }),
        ),
      });
    },
  };
}

function policyMessage(p: PolicyView) {
  return create(RotationPolicySchema, {
    id: p.id,
    name: p.name,
    description: p.description ?? undefined,
    interval: p.interval ?? undefined,
    intervalSeconds: p.interval_seconds ?? undefined,
    schedule: p.schedule ?? undefined,
    timezone: p.timezone ?? undefined,
    rotationWindow: p.rotation_window ?? undefined,
    nextWindows: p.next_windows.map((d) => tsOf(d)!),
    gracePeriod: p.grace_period,
    warnBefore: p.warn_before ?? undefined,
    autoGenerate: p.auto_generate,
    secretPolicyId: p.secret_policy_id ?? undefined,
    webhookIds: p.webhook_ids,
    isActive: p.is_active,
    secretsCount: p.secrets_count,
    createdAt: tsOf(p.created_at),
    updatedAt: tsOf(p.updated_at),
  });
}

function assignmentMessage(a: AssignmentRow) {
  return create(SecretAssignmentSchema, {
    policyId: a.policy_id,
    secretPath: a.secret_path,
    assignedAt: tsOf(a.assigned_at),
    nextRotationAt: tsOf(a.next_rotation_at),
    lastRotatedAt: tsOf(a.last_rotated_at),
    windowOpensAt: tsOf(a.window_opens_at),
    windowClosesAt: tsOf(a.window_closes_at),
  });
}

function historyMessage(h: HistoryRow) {
  return create(RotationHistoryItemSchema, {
    id: h.id,
    policyId: h.policy_id ?? "",
    secretPath: h.secret_path,
    status: h.status,
    oldVersion: h.old_version ?? undefined,
    newVersion: h.new_version ?? undefined,
    rotatedAt: tsOf(h.rotated_at),
    rotatedBy: h.rotated_by,
    reason: h.reason ?? undefined,
    error: h.error ?? undefined,
  });
}

function secretRotationMessage(v: SecretRotationView) {
  const b = v.binding;
  const check = b.propagation_check;
  return create(SecretRotationSchema, {
    path: b.path,
    provider: b.provider,
    config: (b.config ?? {}) as JsonObject,
    hasCredentials: b.credentials_ciphertext !== null,
    policyId: b.policy_id ?? undefined,
    gracePeriod: v.gracePeriod,
    propagationCheck: check ? create(PropagationCheckSchema, { url: check.url, expectedStatus: check.expected_status, timeout: `${check.timeout_seconds}s` }) : undefined,
    maxAttempts: b.max_attempts,
    status: b.status,
    pausedAt: tsOf(b.paused_at),
    nextRotationAt: tsOf(v.nextRotationAt),
    lastRotatedAt: tsOf(b.last_rotated_at),
    lastRun: v.lastRun ? runMessage(v.lastRun) : undefined,
    createdAt: tsOf(b.created_at),
    updatedAt: tsOf(b.updated_at),
    interval: v.interval,
    schedule: b.schedule ?? undefined,
    timezone: b.timezone ?? undefined,
    rotationWindow: b.rotation_window ?? undefined,
    windowClosesAt: v.scheduleSource === "binding" && b.status !== "paused" ? tsOf(b.window_closes_at) : undefined,
    scheduleSource: v.scheduleSource,
  });
}

/** A run as the API shows it; its steps carry summaries, never values. */
export function runMessage(r: RunRow) {
  return create(RotationRunSchema, {
    id: r.id,
    path: r.path,
    provider: r.provider,
    triggeredBy: r.triggered_by,
    actor: r.actor,
    status: r.status,
    step: r.step,
    attempts: r.attempts,
    oldVersion: r.old_version ?? undefined,
    newVersion: r.new_version ?? undefined,
    revokeAt: tsOf(r.revoke_at),
    providerResponse: r.provider_response ?? undefined,
    error: r.error ?? undefined,
    startedAt: tsOf(r.started_at),
    finishedAt: tsOf(r.finished_at),
    metadata: r.new_metadata ?? {},
    steps: r.steps.map((s) => create(RotationRunStepSchema, { step: s.step, status: s.status, attempt: s.attempt, at: tsOf(new Date(s.at)), detail: s.detail })),
  });
}
