import { isMessage, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { ScaiVaultError } from "../errors.js";

// PostgreSQL's text and jsonb cannot hold U+0000, so a NUL anywhere in a request would fail deep in
// a query. It is refused up front for every protocol, as `invalid_request` naming the field.
// Secret values (`data`, `new_value`) are exempt: they are stored encrypted, never as text.

/** Fields whose contents are secret values, stored encrypted and never as text. */
const secretValueFields = new Set(["data", "new_value"]);

/** Refuses unary requests with a NUL in any string (map keys and JSON values included); runs inside the auth interceptor, so the refusal is audited. */
export function createTextGuardInterceptor(): Interceptor {
  return (next) => async (req) => {
    if (!req.stream) {
      const field = fieldWithNul(req.method.input, req.message as Message);
      if (field !== undefined) throw new ScaiVaultError("invalid_request", `field "${field}" must not contain the character U+0000`);
    }
    return next(req);
  };
}

/** The dotted name of the first field holding a NUL, or undefined. */
export function fieldWithNul(desc: DescMessage, message: Message, prefix = ""): string | undefined {
  const fields = message as unknown as Record<string, unknown>;
  for (const field of desc.fields) {
    if (secretValueFields.has(field.name)) continue;
    let value = fields[field.localName];
    if (field.oneof) {
      const oneof = fields[field.oneof.localName] as { case?: string; value?: unknown } | undefined;
      if (oneof?.case !== field.localName) continue;
      value = oneof.value;
    }
    const found = nulIn(field, value, prefix + field.name);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The name of the field (or nested field) whose value holds a NUL, or undefined. */
function nulIn(field: DescField, value: unknown, name: string): string | undefined {
  const inItem = (item: unknown, itemDesc: DescMessage | undefined) =>
    typeof item === "string" ? (item.includes("\0") ? name : undefined) : itemDesc && isMessage(item) ? nulInMessage(itemDesc, item, name) : undefined;
  switch (field.fieldKind) {
    case "scalar":
      return typeof value === "string" && value.includes("\0") ? name : undefined;
    case "list":
      for (const item of value as unknown[]) {
        const found = inItem(item, field.listKind === "message" ? field.message : undefined);
        if (found) return found;
      }
      return undefined;
    case "map":
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
        if (key.includes("\0")) return name;
        const found = inItem(item, field.mapKind === "message" ? field.message : undefined);
        if (found) return found;
      }
      return undefined;
    case "message":
      return isMessage(value) ? nulInMessage(field.message, value, name) : undefined;
    default:
      return undefined;
  }
}

function nulInMessage(desc: DescMessage, message: Message, name: string): string | undefined {
  // Struct, Value and ListValue carry JSON inside; the field is named, not a path into its JSON.
  if (desc.typeName.startsWith("google.protobuf.")) return jsonHoldsNul(message) ? name : undefined;
  return fieldWithNul(desc, message, `${name}.`);
}

/** Whether a well-known message (Struct, Value, ListValue, wrappers) holds a NUL in any string or key. */
function jsonHoldsNul(value: unknown): boolean {
  if (typeof value === "string") return value.includes("\0");
  if (Array.isArray(value)) return value.some(jsonHoldsNul);
  if (value instanceof Uint8Array || value === null || typeof value !== "object") return false;
  return Object.entries(value).some(([key, item]) => key.includes("\0") || jsonHoldsNul(item));
}
