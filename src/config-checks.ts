import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { Cron } from "croner";
import { parseDuration } from "./duration.js";

// The checks below look at what a setting names (a key, a file, a pattern) the way the step that
// uses it later will, so a bad value is among the problems of the first start, not alone on the next.

/** The HS256 secret's length and the public key's form; the messages never quote the values. */
export function jwtKeyProblems(secret: string | undefined, publicKey: string | undefined): string[] {
  const problems: string[] = [];
  if (secret && Buffer.byteLength(secret) < 32) problems.push("SCAIVAULT_JWT_SECRET must be at least 32 bytes");
  if (publicKey) {
    const text = publicKey.trim();
    let type: string | undefined;
    try {
      type = (text.startsWith("{") ? createPublicKey({ key: JSON.parse(text), format: "jwk" }) : createPublicKey(text)).type;
    } catch {
      type = undefined;
    }
    if (type !== "public") problems.push("SCAIVAULT_JWT_PUBLIC_KEY must be a PEM (SPKI) or JWK public key");
  }
  return problems;
}

/** Both TLS files readable, the certificate a PEM certificate and the key an unencrypted PEM private key. */
export function tlsFileProblems(certFile: string, keyFile: string): string[] {
  const problems: string[] = [];
  const check = (name: string, file: string, parse: (pem: Buffer) => unknown, what: string) => {
    let pem: Buffer;
    try {
      pem = readFileSync(file);
    } catch (err) {
      problems.push(`${name}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
      return;
    }
    try {
      parse(pem);
    } catch {
      problems.push(`${name}: ${file} is not ${what}`);
    }
  };
  check("SCAIVAULT_TLS_CERT_FILE", certFile, (pem) => new X509Certificate(pem), "a PEM certificate");
  check("SCAIVAULT_TLS_KEY_FILE", keyFile, (pem) => createPrivateKey(pem), "an unencrypted PEM private key");
  return problems;
}

/** Whether croner accepts `pattern` as the jobs will use it. */
export function isCronPattern(pattern: string): boolean {
  try {
    new Cron(pattern, { paused: true }).stop();
    return true;
  } catch {
    return false;
  }
}

const maxExpiryWarningSeconds = 365 * 86_400;

/** `30d,7d,1d` → thresholds farthest first, duplicates dropped; `off` → none; undefined when invalid. */
export function parseExpiryWarnings(raw: string): { label: string; seconds: number }[] | undefined {
  if (raw.trim().toLowerCase() === "off") return [];
  const thresholds = new Map<number, string>();
  for (const label of raw.split(",").map((t) => t.trim())) {
    let seconds: number;
    try {
      seconds = parseDuration(label);
    } catch {
      return undefined;
    }
    if (seconds > maxExpiryWarningSeconds) return undefined;
    if (!thresholds.has(seconds)) thresholds.set(seconds, label);
  }
  return [...thresholds].sort((a, b) => b[0] - a[0]).map(([seconds, label]) => ({ label, seconds }));
}
