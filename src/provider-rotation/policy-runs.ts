import type { ProviderRuns } from "../rotation-policies/provider-runs.js";
import { SCHEDULER_ACTOR } from "../rotation-policies/rotation-engine.js";
import type { BindingRow } from "./binding-store.js";
import { findBinding, findBindings } from "./binding-store.js";
import { startDueBindingRuns } from "./binding-schedule.js";
import type { SecretRotationService } from "./binding-service.js";
import { previousCredentialHold, startRun } from "./rotation-runner.js";

export interface PolicyRunsDeps {
  /** Whether a binding's new credential can only come from its operator (the provider decides). */
  waitsForSuppliedValue: (binding: BindingRow) => boolean;
  /** The manual rotation of a bound secret; absent where nothing rotates manually (scheduler-only processes). */
  secretRotations?: Pick<SecretRotationService, "rotateNow">;
}

/** Provider rotation as rotation policies use it: their due and manually rotated secrets that have a binding. */
export function createPolicyRuns(deps: PolicyRunsDeps): ProviderRuns {
  return {
    async boundOf(tx, secretIds) {
      const bindings = await findBindings(tx, secretIds);
      return new Map([...bindings].map(([id, binding]) => [id, { waitsForSuppliedValue: deps.waitsForSuppliedValue(binding) }]));
    },
    async startScheduledRun(tx, secret, now) {
      const binding = await findBinding(tx, secret.id);
      if (!binding || binding.status === "paused" || (await previousCredentialHold(tx, secret.id, now))) return "skipped";
      await startRun(tx, { secret, binding, triggeredBy: "scheduled", actor: SCHEDULER_ACTOR, now });
      return "started";
    },
    startDueBindingRuns,
    async rotateNow(call, secret) {
      if (!deps.secretRotations) return undefined;
      const r = await deps.secretRotations.rotateNow(call, secret);
      return r && { runId: r.run.id, version: r.version, previousVersion: r.previousVersion, rotatedAt: r.rotatedAt };
    },
  };
}
