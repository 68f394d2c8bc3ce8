import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  DeleteSecretPolicyResponseSchema,
  ListSecretPoliciesResponseSchema,
  SecretPolicySchema,
  type CreateSecretPolicyRequest,
  type SecretPolicyService as SecretPolicyServiceDesc,
  type UpdateSecretPolicyRequest,
} from "../../gen/scaivault/v1/secret_policies_pb.js";
import { asCreated, callOf, stringListOf, tsOf } from "../handler-support.js";
import type { SecretPoliciesService } from "./secret-policies-service.js";
import type { SecretPolicyRow } from "./secret-policies-store.js";

/** Thin handlers: read the call, call the service, build the reply. */
export function createSecretPoliciesHandler(service: SecretPoliciesService): ServiceImpl<typeof SecretPolicyServiceDesc> {
  return {
    async listSecretPolicies(req, ctx) {
      const r = await service.list(callOf(ctx), { limit: req.limit, cursor: req.cursor });
      return create(ListSecretPoliciesResponseSchema, { data: r.policies.map(secretPolicyMessage), cursor: r.cursor, hasMore: r.hasMore });
    },

    async createSecretPolicy(req, ctx) {
      const row = await service.create(callOf(ctx), req.name, { ...rulesOf(req), fields: req.fields });
      return asCreated(secretPolicyMessage(row));
    },

    async getSecretPolicy(req, ctx) {
      return secretPolicyMessage(await service.get(callOf(ctx), req.id));
    },

    async updateSecretPolicy(req, ctx) {
      const row = await service.update(callOf(ctx), req.id, { ...rulesOf(req), fields: stringListOf(req.fields, "fields") });
      return secretPolicyMessage(row);
    },

    async deleteSecretPolicy(req, ctx) {
      return create(DeleteSecretPolicyResponseSchema, await service.remove(callOf(ctx), req.id));
    },
  };
}

function secretPolicyMessage(p: SecretPolicyRow) {
  return create(SecretPolicySchema, {
    id: p.id,
    name: p.name,
    description: p.description ?? undefined,
    length: p.length,
    charset: p.charset,
    chars: p.chars ?? undefined,
    requireUppercase: p.require_uppercase,
    requireLowercase: p.require_lowercase,
    requireDigits: p.require_digits,
    requireSymbols: p.require_symbols,
    excludeChars: p.exclude_chars ?? undefined,
    fields: p.fields,
    createdAt: tsOf(p.created_at),
    updatedAt: tsOf(p.updated_at),
  });
}

/** The generation rules a create or update request carries (both requests name them alike). */
function rulesOf(req: CreateSecretPolicyRequest | UpdateSecretPolicyRequest) {
  return {
    description: req.description,
    length: req.length,
    charset: req.charset,
    chars: req.chars,
    requireUppercase: req.requireUppercase,
    requireLowercase: req.requireLowercase,
    requireDigits: req.requireDigits,
    requireSymbols: req.requireSymbols,
    excludeChars: req.excludeChars,
  };
}
