// Pre-flight: is the provider reachable, and are the stored provider credentials accepted? Asked
// by `POST /v1/rotation/secrets/{path}/test` and as the first step (`preflight`) of every run.
// A check changes nothing at the provider: it reads (a list, a catalog query, a GET), never writes.
import { ScaiVaultError } from "../../errors.js";
import type { ProviderCall, RotationProvider } from "./provider.js";

/**
 * The checks, in the order they are made: `config` (the binding's settings make sense to the
 * provider, e.g. the IAM user or the database role exists), `reachable` (the provider answered),
 * `credentials` (the stored provider credentials were accepted and may do what rotation needs).
 */
export type PreflightCheckName = "config" | "reachable" | "credentials";

/** One check's outcome; `message` names what was checked and, when it failed, why. Never a value. */
export interface PreflightCheck {
  name: PreflightCheckName;
  ok: boolean;
  message: string;
}

/** The answer of a pre-flight: ok when every check made passed; the checks stop at the first failure. */
export interface PreflightReport {
  ok: boolean;
  checks: PreflightCheck[];
}

export const passed = (name: PreflightCheckName, message: string): PreflightCheck => ({ name, ok: true, message });
export const failed = (name: PreflightCheckName, message: string): PreflightCheck => ({ name, ok: false, message });

/**
 * A run's `preflight` step failed. Rejected credentials and a wrong config fail the run at once:
 * no retry mends them, only `PUT /v1/rotation/secrets/{path}` with new ones (then `retry`).
 * An unreachable provider is retried as any step is.
 */
export class PreflightFailed extends ScaiVaultError {
  constructor(readonly check: PreflightCheck) {
    super(check.name === "reachable" ? "unavailable" : "failed_precondition", `${check.name}: ${check.message}`);
  }

  /** Whether a retry of the step may pass without anyone changing anything (the provider comes back). */
  get retryable(): boolean {
    return this.check.name === "reachable";
  }
}

/**
 * Runs the provider's pre-flight for `call`: the binding's config and credentials are validated
 * first (a binding stored before a provider tightened its rules fails `config` here), then the
 * provider's own checks. A provider without a pre-flight passes with that said. Never throws for
 * a failed check; an unexpected error counts as `reachable` failed, without its text.
 */
export async function runPreflight(provider: RotationProvider, call: ProviderCall): Promise<PreflightReport> {
  try {
    provider.validate(call.config, call.credentials);
  } catch (err) {
    return reportOf([failed("config", err instanceof ScaiVaultError ? err.message : "the binding's config is not valid")]);
  }
  if (!provider.preflight) return reportOf([passed("reachable", `provider ${provider.name} has no pre-flight check; nothing was checked`)]);
  try {
    return reportOf(await provider.preflight(call));
  } catch (err) {
    if (call.signal.aborted) throw err;
    const message = err instanceof ScaiVaultError ? err.message : "the check failed unexpectedly";
    return reportOf([failed(err instanceof ScaiVaultError && err.code === "invalid_request" ? "config" : "reachable", message)]);
  }
}

function reportOf(checks: PreflightCheck[]): PreflightReport {
  return { ok: checks.every((c) => c.ok), checks };
}

/** The first failed check of a report, as the step error; undefined when the report is ok. */
export function preflightFailure(report: PreflightReport): PreflightFailed | undefined {
  const first = report.checks.find((c) => !c.ok);
  return first ? new PreflightFailed(first) : undefined;
}

/** The summary of a passed pre-flight for run history: each check's message. */
export function preflightSummary(report: PreflightReport): string {
  return report.checks.map((c) => `${c.name}: ${c.message}`).join("; ");
}
