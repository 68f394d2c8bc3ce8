import { ScaiVaultError } from "../../errors.js";
import type { RotationProvider } from "./provider.js";

/** Every provider name the API knows; one that is known but not registered is "not available". */
export const PROVIDER_NAMES = ["webhook", "aws_iam", "postgres", "stripe", "generated"] as const;

/** The providers this service can run, by name. */
export interface ProviderRegistry {
  /** The provider, or undefined when it is not registered. */
  get(name: string): RotationProvider | undefined;
  /** The provider, or `invalid_request` naming what is wrong with the name. */
  require(name: string): RotationProvider;
  names(): string[];
}

/** A registry of the given providers; adding one is one more entry in the list passed here (src/app.ts). */
export function createProviderRegistry(providers: readonly RotationProvider[]): ProviderRegistry {
  const byName = new Map<string, RotationProvider>();
  for (const p of providers) {
    if (byName.has(p.name)) throw new Error(`rotation provider ${p.name} is registered twice`);
    byName.set(p.name, p);
  }
  return {
    get: (name) => byName.get(name),
    require(name) {
      if (!name) throw new ScaiVaultError("invalid_request", "provider is required");
      const provider = byName.get(name);
      if (provider) return provider;
      if ((PROVIDER_NAMES as readonly string[]).includes(name)) throw new ScaiVaultError("invalid_request", `provider ${name} is not available`);
      throw new ScaiVaultError("invalid_request", `provider must be one of ${[...new Set([...PROVIDER_NAMES, ...byName.keys()])].join(", ")}`);
    },
    names: () => [...byName.keys()],
  };
}
