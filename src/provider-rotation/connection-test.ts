// `POST /v1/rotation/secrets/{path}/test`: the run's pre-flight on its own, for "Test connection"
// and for checking a fix before `retry`. It changes nothing at the provider nor in the vault.
import { auditAllowed } from "../audit/call-audit.js";
import type { CallContext } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import type { Envelope } from "../crypto/envelope.js";
import type { Db } from "../db/database.js";
import { ScaiVaultError } from "../errors.js";
import type { Logger } from "../log.js";
import { liveSecret } from "../secrets/live-secret.js";
import { openSecretValue } from "../secrets/secret-value.js";
import * as secretsStore from "../secrets/secrets-store.js";
import { failed, runPreflight, type PreflightReport } from "./providers/preflight.js";
import type { ProviderRegistry } from "./providers/registry.js";
import { openCredentials } from "./provider-credentials.js";
import * as store from "./binding-store.js";

export interface ConnectionTestDeps {
  db: Db;
  envelope: Envelope;
  registry: ProviderRegistry;
  clock: Clock;
  logger: Logger;
}

export interface ConnectionTest {
  path: string;
  provider: string;
  report: PreflightReport;
  checkedAt: Date;
}

/** How long one pre-flight may take before it is abandoned (the providers' own timeouts are shorter). */
const PREFLIGHT_TIMEOUT_MS = 60_000;

/** Runs the binding's pre-flight with its stored credentials and the secret's current version; audited as the call. */
export async function testBinding(deps: ConnectionTestDeps, call: CallContext, path: string): Promise<ConnectionTest> {
  const { db, envelope, clock } = deps;
  await envelope.prepareTenant(call.tenantId);
  const secret = await liveSecret(db, call.tenantId, path);
  const binding = await store.findBinding(db, secret.id);
  if (!binding) throw new ScaiVaultError("secret_not_found", `secret ${path} has no provider rotation`);
  const provider = deps.registry.get(binding.provider);
  let report: PreflightReport;
  if (!provider) report = { ok: false, checks: [failed("config", `provider ${binding.provider} is not available on this server`)] };
  else {
    const credentials = await openCredentials(envelope, db, call.tenantId, path, binding);
    const row = await secretsStore.findVersion(db, secret.id, secret.current_version);
    const current = row ? await openSecretValue(envelope, db, secret, row) : undefined;
    report = await runPreflight(provider, {
      tenantId: call.tenantId,
      path,
      config: binding.config ?? {},
      credentials,
      current,
      clock,
      logger: deps.logger.child({ path }),
      signal: AbortSignal.timeout(PREFLIGHT_TIMEOUT_MS),
    });
  }
  await auditAllowed(db, clock, call, { path });
  return { path, provider: binding.provider, report, checkedAt: clock.now() };
}
