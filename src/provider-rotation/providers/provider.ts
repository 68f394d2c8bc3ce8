import type { Clock } from "../../clock.js";
import type { Logger } from "../../log.js";
import type { PreflightCheck } from "./preflight.js";

/** A secret version's data: the JSON object stored (encrypted) as one version. */
export type CredentialData = Record<string, unknown>;

/** What every provider call is told about the secret it rotates. Never logged whole: `credentials` and values are secret. */
export interface ProviderCall {
  tenantId: string;
  path: string;
  /** The binding's public settings (`config` of ConfigureSecretRotation), already validated by `validate`. */
  config: Record<string, unknown>;
  /** The binding's write-only credentials (decrypted), or undefined when none were given. */
  credentials: Record<string, unknown> | undefined;
  /** The data of the secret's current version (undefined when the secret has no readable version). */
  current: CredentialData | undefined;
  clock: Clock;
  logger: Logger;
  /** Aborted when the run must stop (shutdown, lost claim). */
  signal: AbortSignal;
}

/** A credential the provider issued: stored as the new (pending) version. */
export interface IssuedCredential {
  data: CredentialData;
  /** The new version's expires_at, when the provider says when the credential stops working. */
  expiresAt?: Date;
  /** A short summary for run history, e.g. "CreateAccessKey 200"; never a value. */
  summary: string;
  /** What the provider says about the credential (string map, bounded), kept on the new version and its run. Not a value: shown by the API. */
  metadata?: Record<string, string>;
}

/** The outcome of a test, verify or revoke call at the provider, for run history; never a value. */
export interface StepOutcome {
  summary: string;
}

/**
 * One system whose credentials ScaiVault rotates. Each method is one step of a run; a failure
 * throws (a ScaiVaultError with a safe message, or any error whose message is never shown).
 * Steps may be repeated after a crash, so each must be safe to call again.
 */
export interface RotationProvider {
  /** The name used in the API (`provider`), e.g. "aws_iam". */
  readonly name: string;
  /** Checks config and credentials at configure time; throws ScaiVaultError("invalid_request", message naming the field). */
  validate(config: Record<string, unknown>, credentials: Record<string, unknown> | undefined): void;
  /** Step `create`: issue a new credential at the provider. */
  create(call: ProviderCall): Promise<IssuedCredential>;
  /** Step `test`: prove the issued credential works at the provider (a signed call, a login). */
  test(call: ProviderCall, issued: CredentialData): Promise<StepOutcome>;
  /** Step `revoke`: revoke the old credential at the provider after the grace period. */
  revoke(call: ProviderCall, old: CredentialData): Promise<StepOutcome>;
  /** Undo a `create` whose run failed before promote: revoke the half-created credential. */
  discard(call: ProviderCall, issued: CredentialData): Promise<StepOutcome>;
  /**
   * Pre-flight (`POST …/test` and each run's `preflight` step): checks, changing nothing at the
   * provider, that it is reachable and accepts the stored provider credentials (for the providers
   * without any, the secret's current credential where that is what rotation signs with). Returns
   * the checks made, stopping at the first that failed (see ./preflight.ts).
   */
  preflight?(call: ProviderCall): Promise<PreflightCheck[]>;
  /** Only for providers whose new credential can come from the operator (`new_value` of a manual rotate); a provider without it refuses `new_value`. */
  readonly supplied?: SuppliedValues;
}

/** How a provider takes an operator-supplied new credential. */
export interface SuppliedValues {
  /** Whether a manual rotate with this config must carry `new_value` (no credential can be created otherwise). */
  required(config: Record<string, unknown>): boolean;
  /**
   * Checks the value against `config` and turns it into what `create` would have issued; throws
   * ScaiVaultError("invalid_request") naming what is wrong, never echoing the value.
   */
  issue(config: Record<string, unknown>, newValue: unknown): IssuedCredential;
}
