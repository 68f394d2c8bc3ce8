import { ScaiVaultError } from "./errors.js";

/**
 * Keyset pagination shared by every listing: the cursor is the opaque, base64url-encoded position
 * of the last row of a page (`{"after": "<path>"}`), so inserts between pages never shift it.
 * A cursor only positions a query that is always scoped to the caller's tenant: another tenant's
 * cursor reveals and reaches nothing.
 */
export function encodeCursor(key: string, value: string | number): string {
  return Buffer.from(JSON.stringify({ [key]: value })).toString("base64url");
}

/** Reads the position back; `invalid_request` for anything that is not a cursor of this shape. */
export function decodeCursor(cursor: string, key: string): string | number {
  try {
    const value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"))[key];
    if (typeof value === "string" || (typeof value === "number" && Number.isFinite(value))) return value;
  } catch {
    // fall through
  }
  throw new ScaiVaultError("invalid_request", "cursor is not valid");
}

/** One page out of `limit + 1` rows: the extra row only tells that there is more. */
export function pageOf<T>(rows: T[], limit: number, cursorOf: (last: T) => string) {
  const hasMore = rows.length > limit;
  const page = rows.slice(0, limit);
  return { rows: page, hasMore, cursor: hasMore ? cursorOf(page[page.length - 1]!) : undefined };
}

/** A page size: the contract's default 50, at most 200; anything else is `invalid_request`. */
export function pageLimit(limit: number | undefined): number {
  const n = limit ?? 50;
  if (!Number.isInteger(n) || n < 1 || n > 200) throw new ScaiVaultError("invalid_request", "limit must be from 1 to 200");
  return n;
}
