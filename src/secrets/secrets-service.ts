import type { CallContext } from "../auth/principal.js";
import type { ListSecretsInput, PutSecretInput, SecretMetadataInput, SecretOptionsInput } from "./secret-input.js";
import { batchPut, type BatchPutItem } from "./secret-batch-put.js";
import * as reads from "./secret-reads.js";
import { rotate, type RotateInput } from "./secret-rotate.js";
import * as writes from "./secret-writes.js";
import type { Namespace, SecretsServiceDeps } from "./secrets-deps.js";

export { parseDurationField, parseGracePeriod, secretTypes } from "./secret-input.js";
export type { ListSecretsInput, PutSecretInput, SecretMetadataInput, SecretOptionsInput } from "./secret-input.js";
export type { RotateInput, RotateOutcome } from "./secret-rotate.js";
export type { Namespace, RotationLinks, SecretsServiceDeps } from "./secrets-deps.js";
export { stagesOf } from "./secret-reads.js";

/**
 * The secrets use cases, bound to their dependencies: every rule of the contract about paths,
 * versions, expiry and deletion lives in the module functions of secret-writes.ts (writes), secret-batch-put.ts (batch writes),
 * secret-reads.ts (reads and listings), secret-rotate.ts (rotation on request) and
 * secret-input.ts (the fields a write carries).
 */
export function createSecretsService(deps: SecretsServiceDeps) {
  return {
    batchPut: (call: CallContext, items: BatchPutItem[]) => batchPut(deps, call, items),
    put: (call: CallContext, ns: Namespace, path: string, input: PutSecretInput) => writes.put(deps, call, ns, path, input),
    get: (call: CallContext, ns: Namespace, path: string, version?: number, stage?: string) => reads.get(deps, call, ns, path, version, stage),
    updateMetadata: (call: CallContext, path: string, metadata: SecretMetadataInput | undefined, opts: SecretOptionsInput) => writes.updateMetadata(deps, call, path, metadata, opts),
    metadata: (call: CallContext, path: string) => reads.metadata(deps, call, path),
    list: (call: CallContext, input: ListSecretsInput) => reads.list(deps, call, input),
    versions: (call: CallContext, path: string) => reads.versions(deps, call, path),
    remove: (call: CallContext, ns: Namespace, path: string, opts: { permanent: boolean; version?: number }) => writes.remove(deps, call, ns, path, opts),
    restore: (call: CallContext, path: string) => writes.restore(deps, call, path),
    rotate: (call: CallContext, path: string, input: RotateInput) => rotate(deps, call, path, input),
    expiring: (call: CallContext, days?: number) => reads.expiring(deps, call, days),
    purgeExpiredDeletes: () => writes.purgeExpiredDeletes(deps),
  };
}

export type SecretsService = ReturnType<typeof createSecretsService>;
