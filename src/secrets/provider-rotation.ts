import type { JsonObject } from "@bufbuild/protobuf";
import type { CallContext } from "../auth/principal.js";
import type { SecretRow } from "./secrets-store.js";

/** A promoted provider rotation, as the per-secret rotate call answers it. */
export interface PromotedRotation {
  runId: string;
  version: number;
  previousVersion: number;
  rotatedAt: Date;
  previousReadableUntil: Date | undefined;
  emergency: boolean;
  /** An emergency's earlier credential, revoked at the provider before the new one was created. */
  revokedVersion?: number;
  /** What was revoked and when, in words (emergency rotations). */
  detail?: string;
}

/** What the rotate call asked for. */
export interface RotateRequest {
  newValue?: JsonObject;
  /** The grace period of the replaced credential (seconds, 0 allowed); default the binding's. */
  graceSeconds?: number;
  emergency: boolean;
  reason?: string;
}

/**
 * What the secrets service needs from provider rotation: rotate a secret through its provider
 * when it has one. Implemented by src/provider-rotation/binding-service.ts.
 */
export interface ProviderRotation {
  /**
   * Runs the secret's provider rotation until it is promoted (throws when it fails); undefined when
   * the secret has no provider. `newValue` is the operator's new credential, for providers that
   * take one (stripe in supplied mode); others refuse it.
   */
  rotateBound(call: CallContext, secret: SecretRow, given: RotateRequest): Promise<PromotedRotation | undefined>;
}
