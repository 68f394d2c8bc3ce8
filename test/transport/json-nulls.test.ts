import { create, toJson } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { ListSecretsResponseSchema, PutSecretResponseSchema, SecretMetadataSchema, SecretVersionInfoSchema } from "../../gen/scaivault/v1/secrets_pb.js";
import { addJsonNulls, hasJsonNulls } from "../../src/transport/json-nulls.js";
import { jsonOptions } from "../../src/transport/json-options.js";

describe("json nulls", () => {
  it("renders unset json_null fields as null, in nested messages and lists too", () => {
    const list = create(ListSecretsResponseSchema, {
      secrets: [{ path: "a", metadata: { path: "a", rotationPolicy: { id: "rot_q" } } }],
    });
    const json = addJsonNulls(ListSecretsResponseSchema, toJson(ListSecretsResponseSchema, list, jsonOptions)) as any;
    expect(json.cursor).toBeNull();
    expect(json.secrets[0].expires_at).toBeNull();
    expect(json.secrets[0].metadata).toMatchObject({ last_accessed_at: null, expires_at: null, rotation_policy: { id: "rot_q", next_rotation: null } });
  });

  it("keeps values that are set", () => {
    const meta = create(SecretMetadataSchema, { path: "a", expiresAt: timestampFromDate(new Date("2026-05-01T00:00:00Z")) });
    const json = addJsonNulls(SecretMetadataSchema, toJson(SecretMetadataSchema, meta, jsonOptions)) as any;
    expect(json).toMatchObject({ expires_at: "2026-05-01T00:00:00Z", rotation_policy: null });
  });

  it("knows which messages have nothing to add", () => {
    expect(hasJsonNulls(PutSecretResponseSchema)).toBe(false);
    expect(hasJsonNulls(SecretVersionInfoSchema)).toBe(true);
    expect(hasJsonNulls(ListSecretsResponseSchema)).toBe(true);
  });
});
