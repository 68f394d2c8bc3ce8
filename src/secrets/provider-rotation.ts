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
}

/**
 * What the secrets service needs from provider rotation: rotate a secret through its provider
 * when it has one. Implemented by src/rotation/secret-rotation-service.ts.
 */
export interface ProviderRotation {
  /**
   * Runs the secret's provider rotation until it is promoted (throws when it fails); undefined when
   * the secret has no provider. `newValue` is the operator's new credential, for providers that
   * take one (stripe in supplied mode); others refuse it.
   */
  rotateBound(call: CallContext, secret: SecretRow, given: { newValue?: JsonObject; gracePeriodGiven: boolean }): Promise<PromotedRotation | undefined>;
}
