import { create, type JsonObject } from "@bufbuild/protobuf";
import { formatGoDuration } from "./version-lifecycle.js";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  SecretMetadataFieldsSchema,
} from "../../gen/scaivault/v1/common_pb.js";
import {
  BatchPutSecretsResponseSchema,
  DeleteSecretResponseSchema,
  ExpiringSecretSchema,
  ListExpiringSecretsResponseSchema,
  ListSecretsResponseSchema,
  ListSecretVersionsResponseSchema,
  PutSecretResponseSchema,
  RestoreSecretResponseSchema,
  RotateSecretResponseSchema,
  SecretListItemSchema,
  SecretMetadataSchema,
  SecretRotationRefSchema,
  SecretSchema,
  SecretVersionInfoSchema,
  type PutSecretRequest,
  type SecretOptions,
  type SecretsService as SecretsServiceDesc,
} from "../../gen/scaivault/v1/secrets_pb.js";
import { asCreated, callOf, dateOf, stringListOf, tsOf } from "../handler-support.js";
import type { Namespace, SecretOptionsInput, SecretsService } from "./secrets-service.js";
import type { SecretRow } from "./secrets-store.js";

function optionsOf(o: SecretOptions | undefined): SecretOptionsInput {
  if (!o) return {};
  return {
    maxVersions: o.maxVersions,
    expiresIn: o.expiresIn,
    expiresAt: dateOf(o.expiresAt),
    rotationPolicyId: o.rotationPolicyId || undefined,
    secretPolicyId: o.secretPolicyId || undefined,
    cas: o.cas,
  };
}

function metadataFieldsOf(row: SecretRow) {
  return create(SecretMetadataFieldsSchema, {
    description: row.description ?? undefined,
    tags: row.tags,
    owner: row.owner ?? undefined,
  });
}

function putInputOf(req: PutSecretRequest) {
  return {
    data: req.data,
    secretType: req.secretType,
    metadata: req.metadata ? { description: req.metadata.description, tags: req.metadata.tags.length ? req.metadata.tags : undefined, owner: req.metadata.owner } : undefined,
    options: optionsOf(req.options),
  };
}

/** Thin handlers: read the call, call the service, build the reply. */
export function createSecretsHandler(service: SecretsService): ServiceImpl<typeof SecretsServiceDesc> {
  const get = (ns: Namespace) => async (req: { path: string; version?: number; stage?: string }, ctx: HandlerContext) => {
    const { secret, version, data, createdAt } = await service.get(callOf(ctx), ns, req.path, req.version, req.stage || undefined);
    return create(SecretSchema, {
      path: secret.path,
      version,
      secretType: secret.secret_type,
      data,
      metadata: metadataFieldsOf(secret),
      createdAt: tsOf(createdAt),
      expiresAt: tsOf(secret.expires_at),
    });
  };
  const put = (ns: Namespace) => async (req: PutSecretRequest, ctx: HandlerContext) => {
    const r = await service.put(callOf(ctx), ns, req.path, putInputOf(req));
    if (r.created) {
      return asCreated(
        create(PutSecretResponseSchema, {
          path: r.path,
          secretType: r.secretType,
          version: r.version,
          created: true,
          createdAt: tsOf(r.createdAt),
          expiresAt: tsOf(r.expiresAt),
        }),
      );
    }
    return create(PutSecretResponseSchema, {
      path: r.path,
      version: r.version,
      created: false,
      previousVersion: r.previousVersion,
      updatedAt: tsOf(r.updatedAt),
    });
  };
  const remove = (ns: Namespace) => async (req: { path: string; permanent: boolean; version?: number }, ctx: HandlerContext) => {
    const r = await service.remove(callOf(ctx), ns, req.path, { permanent: req.permanent, version: req.version });
    return create(DeleteSecretResponseSchema, {
      path: r.path,
      deleted: r.deleted,
      permanent: r.permanent,
      version: r.version,
      recoverableUntil: tsOf(r.recoverableUntil),
    });
  };

  return {
    getSecret: get("tenant"),
    getPartnerSecret: get("partner"),
    putSecret: put("tenant"),
    putPartnerSecret: put("partner"),
    deleteSecret: remove("tenant"),
    deletePartnerSecret: remove("partner"),

    async batchPutSecrets(req, ctx) {
      const results = await service.batchPut(callOf(ctx), req.items.map((item) => ({ path: item.path, ...putInputOf(item) })));
      return create(BatchPutSecretsResponseSchema, {
        results: results.map((r) =>
          r.created
            ? { path: r.path, secretType: r.secretType, version: r.version, created: true, createdAt: tsOf(r.createdAt), expiresAt: tsOf(r.expiresAt) }
            : { path: r.path, version: r.version, created: false, previousVersion: r.previousVersion, updatedAt: tsOf(r.updatedAt) },
        ),
      });
    },

    async updateSecretMetadata(req, ctx) {
      const m = req.metadata;
      const result = await service.updateMetadata(
        callOf(ctx),
        req.path,
        m ? { description: m.description, owner: m.owner, tags: stringListOf(m.tags, "metadata.tags") } : undefined,
        optionsOf(req.options),
      );
      return metadataMessage(result);
    },

    async getSecretMetadata(req, ctx) {
      return metadataMessage(await service.metadata(callOf(ctx), req.path));
    },

    async listSecrets(req, ctx) {
      const r = await service.list(callOf(ctx), {
        prefix: req.prefix,
        tags: req.tag,
        secretType: req.secretType,
        expiresBefore: dateOf(req.expiresBefore),
        updatedAfter: dateOf(req.updatedAfter),
        includeExpired: req.includeExpired,
        includeMetadata: req.includeMetadata,
        limit: req.limit,
        cursor: req.cursor,
      });
      return create(ListSecretsResponseSchema, {
        secrets: r.rows.map((row, i) =>
          create(SecretListItemSchema, {
            path: row.path,
            secretType: row.secret_type,
            version: row.current_version,
            updatedAt: tsOf(row.updated_at),
            expiresAt: tsOf(row.expires_at),
            tags: row.tags,
            metadata: r.details ? metadataMessage(r.details[i]!) : undefined,
          }),
        ),
        cursor: r.cursor,
        hasMore: r.hasMore,
        totalCount: r.totalCount,
        totalCountExact: r.totalCountExact,
      });
    },

    async listSecretVersions(req, ctx) {
      const r = await service.versions(callOf(ctx), req.path);
      return create(ListSecretVersionsResponseSchema, {
        path: r.secret.path,
        versions: r.versions.map((v) =>
          create(SecretVersionInfoSchema, {
            version: v.version,
            createdAt: tsOf(v.created_at),
            isCurrent: v.isCurrent,
            readableUntil: tsOf(v.readable_until),
            stage: v.stage,
            deletedAt: tsOf(v.deletedAt),
            destroyed: v.destroyed,
            metadata: v.provider_metadata ?? {},
          }),
        ),
      });
    },

    async restoreSecret(req, ctx) {
      const r = await service.restore(callOf(ctx), req.path);
      return create(RestoreSecretResponseSchema, r);
    },

    async rotateSecret(req, ctx) {
      const r = await service.rotate(callOf(ctx), req.path, { reason: req.reason, newValue: req.newValue as JsonObject | undefined, gracePeriod: req.gracePeriod, emergency: req.emergency });
      return create(RotateSecretResponseSchema, {
        path: r.path,
        version: r.version,
        previousVersion: r.previousVersion,
        rotatedAt: tsOf(r.rotatedAt),
        previousVersionReadableUntil: tsOf(r.previousReadableUntil),
        runId: r.runId,
        emergency: r.emergency,
        revokedVersion: r.revokedVersion,
        detail: r.detail,
      });
    },

    async listExpiringSecrets(req, ctx) {
      const rows = await service.expiring(callOf(ctx), req.days);
      return create(ListExpiringSecretsResponseSchema, {
        secrets: rows.map((r) => create(ExpiringSecretSchema, { path: r.path, expiresAt: tsOf(r.expiresAt), daysRemaining: r.daysRemaining })),
      });
    },
  };
}

function metadataMessage(d: Awaited<ReturnType<SecretsService["metadata"]>>) {
  const s = d.secret;
  return create(SecretMetadataSchema, {
    path: s.path,
    currentVersion: s.current_version,
    versionCount: d.versionCount,
    metadata: metadataFieldsOf(s),
    createdAt: tsOf(s.created_at),
    updatedAt: tsOf(s.updated_at),
    lastAccessedAt: tsOf(d.lastAccessedAt),
    accessCount30d: d.accessCount30d,
    rotationPolicy: d.rotation
      ? create(SecretRotationRefSchema, {
          id: d.rotation.policyId,
          nextRotation: tsOf(d.rotation.nextRotationAt),
          windowOpensAt: tsOf(d.rotation.windowOpensAt),
          windowClosesAt: tsOf(d.rotation.windowClosesAt),
        })
      : undefined,
    secretType: s.secret_type,
    expiresAt: tsOf(s.expires_at),
    maxVersions: s.max_versions,
    secretPolicyId: s.secret_policy_id ?? undefined,
    customMetadata: customMetadataOf(s.custom_metadata),
    casRequired: s.cas_required,
    deleteVersionAfter: s.delete_version_after_seconds ? formatGoDuration(s.delete_version_after_seconds) : undefined,
  });
}


/** The stored `custom_metadata` (jsonb) as the string map the API shows. */
export function customMetadataOf(stored: unknown): Record<string, string> {
  const value = typeof stored === "string" ? (JSON.parse(stored) as unknown) : stored;
  if (!value || typeof value !== "object" || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === "string"));
}
