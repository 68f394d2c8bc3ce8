import { create } from "@bufbuild/protobuf";
import type { JsonObject } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  DeleteSecretRotationResponseSchema,
  ListRotationRunsResponseSchema,
  ListSecretRotationsResponseSchema,
  PreflightCheckSchema,
  PropagationCheckSchema,
  SecretRotationTestSchema,
  RotationRunSchema,
  RotationRunStepSchema,
  SecretRotationSchema,
  type RotationService as RotationServiceDesc,
} from "../../gen/scaivault/v1/rotation_pb.js";
import { asCreated, callOf, tsOf } from "../handler-support.js";
import type { SecretRotationService, SecretRotationView } from "./binding-service.js";
import type { RunRow } from "./binding-store.js";

/** The provider-rotation methods of the rotation API (the policy methods are rotation-policies/rotation-handler.ts). */
export type BindingMethods = Pick<ServiceImpl<typeof RotationServiceDesc>, "configureSecretRotation" | "getSecretRotation" | "listSecretRotations" | "deleteSecretRotation" | "pauseSecretRotation" | "resumeSecretRotation" | "listRotationRuns" | "rollbackSecretRotation" | "retrySecretRotation" | "resolveSecretRotation" | "testSecretRotation">;

/** Thin handlers: read the call, call the service, build the reply. */
export function createBindingHandler(secretRotations: SecretRotationService): BindingMethods {
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
  };
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
