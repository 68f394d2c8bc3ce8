import { fromJson, type DescField, type DescMessage, type JsonObject, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import { ScaiVaultError } from "../errors.js";
import { jsonOptions } from "./json-options.js";

/**
 * Parses the JSON of a REST request into its message, strictly (unknown fields are an error).
 * protobuf-es errors quote the offending value, which may be a secret, and do not name the
 * field when a nested well-known type fails; so on failure the JSON is walked again field by
 * field to find the culprit, and the error names it without repeating the value.
 */
export function requestFromJson<Desc extends DescMessage>(desc: Desc, json: JsonObject): MessageShape<Desc> {
  try {
    return fromJson(desc, json, jsonOptions);
  } catch (cause) {
    throw new ScaiVaultError("invalid_request", describeFailure(desc, json, "") ?? "invalid request", { cause });
  }
}

/** An unknown key is named in the error only when it looks like a field name: any other key is request content. */
const fieldName = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

function describeFailure(desc: DescMessage, json: JsonValue, prefix: string): string | undefined {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return prefix ? `field "${prefix.slice(0, -1)}" must be an object` : "request body must be a JSON object";
  }
  const seen = new Set<DescField>();
  for (const [key, value] of Object.entries(json)) {
    const field = desc.fields.find((f) => f.name === key || f.jsonName === key);
    if (!field) return fieldName.test(key) ? `unknown field "${prefix}${key}"` : `unknown field in ${prefix ? `"${prefix.slice(0, -1)}"` : "the request"}`;
    const name = prefix + field.name;
    if (seen.has(field)) return `field "${name}" is given twice`;
    seen.add(field);
    if (isValid(desc, key, value)) continue;
    // Point into a nested message of ours rather than at the whole of it.
    const nested = field.fieldKind === "message" || (field.fieldKind === "list" && field.listKind === "message") ? field.message : undefined;
    if (nested && !nested.typeName.startsWith("google.protobuf.")) {
      const inner =
        field.fieldKind === "message"
          ? describeFailure(nested, value, `${name}.`)
          : Array.isArray(value)
            ? value.map((item, i) => describeFailure(nested, item, `${name}[${i}].`)).find((m) => m !== undefined)
            : undefined;
      if (inner) return inner;
    }
    return `invalid value for field "${name}"`;
  }
  return undefined;
}

function isValid(desc: DescMessage, key: string, value: JsonValue): boolean {
  try {
    fromJson(desc, { [key]: value }, jsonOptions);
    return true;
  } catch {
    return false;
  }
}
