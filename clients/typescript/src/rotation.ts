import type { JsonObject } from "@bufbuild/protobuf";
import type { CallOptions, Client } from "@connectrpc/connect";
import type { RotationRun, RotationService, SecretRotation } from "./gen/scaivault/v1/rotation_pb.js";

/** The providers ScaiVault knows; which ones a server runs is up to the server (`invalid_request` "not available" otherwise). */
export type RotationProviderName = "webhook" | "generated" | "aws_iam" | "postgres" | "stripe";

/** Options of `rotation.configure`: the binding of a secret to the provider that issues its credential. */
export interface ConfigureRotationOptions {
  provider: RotationProviderName;
  /** The provider's public settings, e.g. `{url, field, revoke}` for `webhook`. */
  config?: JsonObject;
  /** Write-only; the server never returns them (`hasCredentials` says whether some are stored). Omit to keep the stored ones. */
  credentials?: JsonObject;
  /** The rotation policy that schedules it; without one only manual rotations run. */
  policyId?: string;
  /** How long the previous credential stays valid (`48h`, `0s`); default the policy's, else 48h. */
  gracePeriod?: string;
  /** A GET that must answer `expectedStatus` (default 200) before the old credential is revoked. */
  propagationCheck?: { url: string; expectedStatus?: number; timeout?: string };
  /** Tries per step, default 3. */
  maxAttempts?: number;
}

/** Typed helpers for provider rotation, on `client.rotation` next to the generated methods. */
export interface RotationHelpers {
  /** Creates or replaces a secret's provider rotation. */
  configure(path: string, options: ConfigureRotationOptions, callOptions?: CallOptions): Promise<SecretRotation>;
  /** Reads it: status, next and last rotation, last run. */
  get(path: string, callOptions?: CallOptions): Promise<SecretRotation>;
  /** Every provider rotation of the tenant, page by page (`status: "failing"`, `provider: "webhook"` filter). */
  list(filter?: { status?: "active" | "paused" | "failing"; provider?: RotationProviderName }, callOptions?: CallOptions): AsyncIterable<SecretRotation>;
  pause(path: string, callOptions?: CallOptions): Promise<SecretRotation>;
  resume(path: string, callOptions?: CallOptions): Promise<SecretRotation>;
  /** Removes the provider rotation; the secret and its versions stay. */
  disable(path: string, callOptions?: CallOptions): Promise<void>;
  /** The secret's runs, newest first, page by page. */
  runs(path: string, filter?: { status?: string }, callOptions?: CallOptions): AsyncIterable<RotationRun>;
  /** Makes the previous version current again and revokes the new credential. */
  rollback(path: string, callOptions?: CallOptions): Promise<RotationRun>;
}

/** Builds the helpers over the generated client. */
export function createRotationHelpers(client: Client<typeof RotationService>): RotationHelpers {
  return {
    configure: (path, o, callOptions) =>
      client.configureSecretRotation(
        { path, provider: o.provider, config: o.config, credentials: o.credentials, policyId: o.policyId, gracePeriod: o.gracePeriod, propagationCheck: o.propagationCheck, maxAttempts: o.maxAttempts },
        callOptions,
      ),
    get: (path, callOptions) => client.getSecretRotation({ path }, callOptions),
    async *list(filter = {}, callOptions) {
      let cursor: string | undefined;
      do {
        const page = await client.listSecretRotations({ status: filter.status, provider: filter.provider, cursor, limit: 100 }, callOptions);
        yield* page.data;
        cursor = page.hasMore ? page.cursor : undefined;
      } while (cursor);
    },
    pause: (path, callOptions) => client.pauseSecretRotation({ path }, callOptions),
    resume: (path, callOptions) => client.resumeSecretRotation({ path }, callOptions),
    async disable(path, callOptions) {
      await client.deleteSecretRotation({ path }, callOptions);
    },
    async *runs(path, filter = {}, callOptions) {
      let cursor: string | undefined;
      do {
        const page = await client.listRotationRuns({ path, status: filter.status, cursor, limit: 100 }, callOptions);
        yield* page.data;
        cursor = page.hasMore ? page.cursor : undefined;
      } while (cursor);
    },
    rollback: (path, callOptions) => client.rollbackSecretRotation({ path }, callOptions),
  };
}
