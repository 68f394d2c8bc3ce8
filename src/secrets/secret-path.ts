import { ScaiVaultError } from "../errors.js";

const SEGMENT = /^[A-Za-z0-9._-]{1,128}$/;
const RESERVED_LAST = new Set(["versions", "rotate", "restore"]);

/** Checks a secret path against the contract's grammar and reserved names; throws `invalid_path`. */
export function validateSecretPath(path: string): string {
  const fail = (why: string) => new ScaiVaultError("invalid_path", `invalid secret path: ${why}`);
  if (path.length < 1 || path.length > 512) throw fail("must be 1 to 512 characters");
  const segments = path.split("/");
  for (const segment of segments) {
    if (segment === "") throw fail("no leading, trailing or double slash");
    if (segment === "." || segment === "..") throw fail("segments . and .. are not allowed");
    if (!SEGMENT.test(segment)) throw fail("segments are 1-128 characters of A-Z a-z 0-9 . _ -");
  }
  if (segments[0] === "metadata") throw fail("the first segment 'metadata' is reserved");
  if (path === "expiring") throw fail("'expiring' is reserved");
  if (RESERVED_LAST.has(segments[segments.length - 1]!)) throw fail("a last segment of versions, rotate or restore is reserved");
  return path;
}
