import { auditAllowed } from "../audit/call-audit.js";
import type { CallContext } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import { charsets, impossibility, type GenerationRules } from "../crypto/value-generator.js";
import { inTransaction, type Db } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import { decodeCursor, encodeCursor, pageLimit, pageOf } from "../pagination.js";
import * as store from "./secret-policies-store.js";
import type { SecretPolicyRow } from "./secret-policies-store.js";

const NAME_PATTERN = /^[a-z0-9_-]{1,64}$/;
const CHARSETS = [...Object.keys(charsets), "custom"];
const MIN_LENGTH = 8;
const MAX_LENGTH = 1024;
const DEFAULT_LENGTH = 32;
const MAX_CHARS = 1024;
const MAX_FIELDS = 32;
const MAX_FIELD_LENGTH = 128;
const DEFAULT_FIELDS = ["password"];

/** The generation settings of a secret policy, as the API names them. */
export interface SecretPolicyFields {
  description?: string;
  length?: number;
  charset?: string;
  chars?: string;
  requireUppercase?: boolean;
  requireLowercase?: boolean;
  requireDigits?: boolean;
  requireSymbols?: boolean;
  excludeChars?: string;
  fields?: string[];
}

export interface SecretPoliciesServiceDeps {
  db: Db;
  clock: Clock;
}

/** Value-generation policies: validated so that every stored policy can generate a value. */
export function createSecretPoliciesService(deps: SecretPoliciesServiceDeps) {
  const { db, clock } = deps;

  async function list(call: CallContext, input: { limit?: number; cursor?: string }) {
    const limit = pageLimit(input.limit);
    const rows = await store.listSecretPolicies(db, { tenantId: call.tenantId, afterId: input.cursor ? String(decodeCursor(input.cursor, "after")) : undefined, limit });
    const page = pageOf(rows, limit, (last) => encodeCursor("after", last.id));
    await auditAllowed(db, clock, call);
    return { policies: page.rows, hasMore: page.hasMore, cursor: page.cursor };
  }

  async function create(call: CallContext, name: string, input: SecretPolicyFields): Promise<SecretPolicyRow> {
    if (!name) throw new ScaiVaultError("invalid_request", "name is required");
    if (!NAME_PATTERN.test(name)) throw new ScaiVaultError("invalid_request", "name must be 1 to 64 characters of a-z, 0-9, _ and -");
    const settings = validated({
      description: input.description || undefined,
      length: input.length ?? DEFAULT_LENGTH,
      charset: input.charset || "alphanumeric",
      chars: input.chars || undefined,
      requireUppercase: input.requireUppercase ?? false,
      requireLowercase: input.requireLowercase ?? false,
      requireDigits: input.requireDigits ?? false,
      requireSymbols: input.requireSymbols ?? false,
      excludeChars: input.excludeChars || undefined,
      fields: input.fields?.length ? input.fields : DEFAULT_FIELDS,
    });
    const now = clock.now();
    return inTransaction(db, async (tx) => {
      const row = await store.insertSecretPolicy(tx, { tenant_id: call.tenantId, id: `sp_${name}`, name, ...columnsOf(settings), created_at: now, updated_at: now });
      if (!row) throw new ScaiVaultError("name_conflict", `a secret policy named ${name} already exists`);
      await auditAllowed(tx, clock, call);
      return row;
    });
  }

  async function get(call: CallContext, id: string): Promise<SecretPolicyRow> {
    const row = await store.findSecretPolicy(db, call.tenantId, id);
    if (!row) throw notFound(id);
    await auditAllowed(db, clock, call);
    return row;
  }

  /** Applies a partial update; the result must still be satisfiable. Moving away from `custom` drops `chars`. */
  async function update(call: CallContext, id: string, input: SecretPolicyFields): Promise<SecretPolicyRow> {
    if (input.fields?.length === 0) throw new ScaiVaultError("invalid_request", "fields must name at least one data key");
    const now = clock.now();
    return inTransaction(db, async (tx) => {
      const current = await store.findSecretPolicy(tx, call.tenantId, id, true);
      if (!current) throw notFound(id);
      const charset = input.charset || current.charset;
      const settings = validated({
        description: input.description !== undefined ? input.description || undefined : (current.description ?? undefined),
        length: input.length ?? current.length,
        charset,
        chars: input.chars !== undefined ? input.chars || undefined : charset === "custom" ? (current.chars ?? undefined) : undefined,
        requireUppercase: input.requireUppercase ?? current.require_uppercase,
        requireLowercase: input.requireLowercase ?? current.require_lowercase,
        requireDigits: input.requireDigits ?? current.require_digits,
        requireSymbols: input.requireSymbols ?? current.require_symbols,
        excludeChars: input.excludeChars !== undefined ? input.excludeChars || undefined : (current.exclude_chars ?? undefined),
        fields: input.fields ?? current.fields,
      });
      const row = await store.updateSecretPolicy(tx, call.tenantId, id, { ...columnsOf(settings), updated_at: now });
      await auditAllowed(tx, clock, call);
      return row;
    });
  }

  /** Deletes a policy nothing generates with any more; one still in use is refused, so no rotation loses its rules. */
  async function remove(call: CallContext, id: string) {
    return inTransaction(db, async (tx) => {
      if (!(await store.findSecretPolicy(tx, call.tenantId, id, true))) throw notFound(id);
      const user = await store.firstUserOf(tx, call.tenantId, id);
      if (user) throw new ScaiVaultError("invalid_request", `secret policy ${id} is still used by ${user}; detach it first`);
      await store.deleteSecretPolicy(tx, call.tenantId, id);
      await auditAllowed(tx, clock, call);
      return { id, deleted: true };
    });
  }

  return { list, create, get, update, remove };
}

export type SecretPoliciesService = ReturnType<typeof createSecretPoliciesService>;

type Settings = GenerationRules & { description?: string; fields: string[] };

/** Checks every field and that the rules can be met; throws `invalid_request` naming the problem. */
function validated(s: Omit<Settings, "charset"> & { charset: string }): Settings {
  if (s.description !== undefined && s.description.length > 1024) throw invalid("description is over 1024 characters");
  if (!Number.isInteger(s.length) || s.length < MIN_LENGTH || s.length > MAX_LENGTH) throw invalid(`length must be from ${MIN_LENGTH} to ${MAX_LENGTH}`);
  if (!CHARSETS.includes(s.charset)) throw invalid(`charset must be one of ${CHARSETS.join(", ")}`);
  if (s.charset === "custom" && !s.chars) throw invalid("chars is required when charset is custom");
  if (s.charset !== "custom" && s.chars) throw invalid("chars applies only when charset is custom");
  if (s.chars && [...s.chars].length > MAX_CHARS) throw invalid(`chars is over ${MAX_CHARS} characters`);
  if (s.excludeChars && [...s.excludeChars].length > MAX_CHARS) throw invalid(`exclude_chars is over ${MAX_CHARS} characters`);
  const fields = [...new Set(s.fields)];
  if (fields.length > MAX_FIELDS || fields.some((f) => f.length < 1 || f.length > MAX_FIELD_LENGTH)) {
    throw invalid(`fields: 1 to ${MAX_FIELDS} data keys of 1 to ${MAX_FIELD_LENGTH} characters`);
  }
  const settings = { ...s, charset: s.charset as Settings["charset"], fields };
  const why = impossibility(settings);
  if (why) throw invalid(`this policy can never be satisfied: ${why}`);
  return settings;
}

function columnsOf(s: Settings) {
  return {
    description: s.description ?? null,
    length: s.length,
    charset: s.charset,
    chars: s.chars ?? null,
    require_uppercase: s.requireUppercase,
    require_lowercase: s.requireLowercase,
    require_digits: s.requireDigits,
    require_symbols: s.requireSymbols,
    exclude_chars: s.excludeChars ?? null,
    fields: s.fields,
  };
}

function invalid(message: string) {
  return new ScaiVaultError("invalid_request", message);
}

function notFound(id: string) {
  return new ScaiVaultError("secret_policy_not_found", `secret policy ${id} not found`);
}
