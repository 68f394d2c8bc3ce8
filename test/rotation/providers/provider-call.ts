import { createManualClock, type ManualClock } from "../../../src/clock.js";
import { silentLogger } from "../../../src/log.js";
import type { CredentialData, ProviderCall } from "../../../src/provider-rotation/providers/provider.js";

/** A ProviderCall as the run engine builds one, with a manual clock the test can walk. */
export function providerCall(options: {
  config: Record<string, unknown>;
  credentials?: Record<string, unknown>;
  current?: CredentialData;
  clock?: ManualClock;
  signal?: AbortSignal;
}): ProviderCall & { clock: ManualClock } {
  return {
    tenantId: "t_test",
    path: "apps/provider-test/credential",
    config: options.config,
    credentials: options.credentials,
    current: options.current,
    clock: options.clock ?? createManualClock(),
    logger: silentLogger,
    signal: options.signal ?? new AbortController().signal,
  };
}
