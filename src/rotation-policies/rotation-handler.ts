import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  DeleteRotationPolicyResponseSchema,
  DetachSecretResponseSchema,
  DueSecretSchema,
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
import type { PolicyView, RotationService } from "./policy-service.js";
import type { AssignmentRow, HistoryRow, PolicyWithCount } from "./policy-store.js";

/** The methods of the rotation API this feature serves; provider rotation serves the others (provider-rotation/binding-handler.ts). */
export type PolicyMethods = Omit<ServiceImpl<typeof RotationServiceDesc>, "configureSecretRotation" | "getSecretRotation" | "listSecretRotations" | "deleteSecretRotation" | "pauseSecretRotation" | "resumeSecretRotation" | "listRotationRuns" | "rollbackSecretRotation" | "retrySecretRotation" | "resolveSecretRotation" | "testSecretRotation">;

/** Thin handlers: read the call, call the service, build the reply. */
export function createPolicyHandler(service: RotationService): PolicyMethods {
  return {
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

