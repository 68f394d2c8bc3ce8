import { getOption, type DescField, type DescMessage, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { json_null } from "../../gen/scaivault/v1/options_pb.js";

// protobuf-es has no option to emit `null` for unset fields, but the guides show `"cursor": null`
// and `"expires_at": null`. Fields marked `(scaivault.v1.json_null) = true` get it here, after
// `toJson` with `useProtoFieldName: true` (keys are proto field names).

const reachesNull = new WeakMap<DescMessage, boolean>();
const marked = new WeakMap<DescField, boolean>();

/** Whether the field is marked `json_null`; read once per field (reading an option decodes it). */
function isJsonNull(field: DescField): boolean {
  let result = marked.get(field);
  if (result === undefined) marked.set(field, (result = getOption(field, json_null)));
  return result;
}

/** True when the message or any message nested in it has a field marked `json_null`. */
export function hasJsonNulls(desc: DescMessage): boolean {
  let result = reachesNull.get(desc);
  if (result === undefined) {
    // A plain walk over every reachable message type; recursive types are visited once.
    const seen = new Set<DescMessage>([desc]);
    const pending = [desc];
    result = false;
    for (let next = pending.pop(); next && !result; next = pending.pop()) {
      for (const field of next.fields) {
        if (isJsonNull(field)) result = true;
        const nested = nestedMessage(field);
        if (nested && !seen.has(nested)) {
          seen.add(nested);
          pending.push(nested);
        }
      }
    }
    reachesNull.set(desc, result);
  }
  return result;
}

/** Adds `null` for every unset `json_null` field of `json` (the proto-named JSON of a `desc` message), recursively; mutates and returns it. */
export function addJsonNulls(desc: DescMessage, json: JsonValue): JsonValue {
  if (!isObject(json) || !hasJsonNulls(desc)) return json;
  for (const field of desc.fields) {
    const value = json[field.name];
    if (value === undefined) {
      if (isJsonNull(field)) json[field.name] = null;
      continue;
    }
    const nested = nestedMessage(field);
    if (!nested) continue;
    if (field.fieldKind === "message") addJsonNulls(nested, value);
    else if (field.fieldKind === "list" && Array.isArray(value)) value.forEach((item) => addJsonNulls(nested, item));
    else if (field.fieldKind === "map" && isObject(value)) Object.values(value).forEach((item) => addJsonNulls(nested, item));
  }
  return json;
}

/** The message type a field holds (singular, list or map value), unless it is a well-known type with its own JSON form. */
function nestedMessage(field: DescField): DescMessage | undefined {
  let message: DescMessage | undefined;
  if (field.fieldKind === "message") message = field.message;
  else if (field.fieldKind === "list" && field.listKind === "message") message = field.message;
  else if (field.fieldKind === "map" && field.mapKind === "message") message = field.message;
  return message && !message.typeName.startsWith("google.protobuf.") ? message : undefined;
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
