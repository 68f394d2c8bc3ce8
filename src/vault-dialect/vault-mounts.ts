/**
 * Vault KV v2 mounts: each mount name maps to a prefix of the tenant's path space. `secret` maps to
 * the whole space by default; `SCAIVAULT_VAULT_MOUNTS` (`secret=,kv=teams/`) names them all, or
 * `off` serves none.
 */
export interface VaultMount {
  /** The mount's name as clients send it (`secret` in `/v1/secret/data/app`). */
  name: string;
  /** The ScaiVault path prefix the mount stands for: empty (the whole path space) or ending in `/`. */
  prefix: string;
}

/** First segments of ScaiVault's own `/v1/` routes, and Vault's own system paths: no mount may take them. */
export const reservedMountNames: readonly string[] = [
  "secrets",
  "rotation",
  "secret-policies",
  "webhooks",
  "audit",
  "partner",
  "t",
  "tenants",
  "watch",
  "notification-channels",
  "sys",
  "auth",
];

const mountName = /^[A-Za-z0-9_-]{1,64}$/;
const prefixSegment = /^[A-Za-z0-9._-]{1,128}$/;

/** Parses the mounts setting; the problems list says what is wrong (a start with any is refused). */
export function parseVaultMounts(raw: string): { mounts: VaultMount[]; problems: string[] } {
  const problems: string[] = [];
  const text = raw.trim();
  if (text.toLowerCase() === "off") return { mounts: [], problems };
  const mounts: VaultMount[] = [];
  for (const entry of text.split(",").map((e) => e.trim()).filter(Boolean)) {
    const eq = entry.indexOf("=");
    const name = (eq < 0 ? entry : entry.slice(0, eq)).trim();
    const prefix = eq < 0 ? "" : entry.slice(eq + 1).trim();
    if (!mountName.test(name)) {
      problems.push(`SCAIVAULT_VAULT_MOUNTS: mount name ${JSON.stringify(name)} must be 1-64 characters of A-Z a-z 0-9 _ -`);
    } else if (reservedMountNames.includes(name)) {
      problems.push(`SCAIVAULT_VAULT_MOUNTS: mount name ${name} would shadow ScaiVault's own /v1/${name}/ routes`);
    } else if (mounts.some((m) => m.name === name)) {
      problems.push(`SCAIVAULT_VAULT_MOUNTS: mount ${name} is named twice`);
    }
    if (prefix !== "" && (!prefix.endsWith("/") || !prefix.slice(0, -1).split("/").every((s) => prefixSegment.test(s) && s !== "." && s !== ".."))) {
      problems.push(`SCAIVAULT_VAULT_MOUNTS: the prefix of ${name} must be empty or path segments ending in / (such as teams/)`);
    }
    mounts.push({ name, prefix });
  }
  return { mounts, problems };
}

/** The mount a request path's first segment names, if any. */
export function findMount(mounts: readonly VaultMount[], name: string): VaultMount | undefined {
  return mounts.find((m) => m.name === name);
}
