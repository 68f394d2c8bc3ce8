import { ScalarType, type DescField, type DescMessage, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { ScaiVaultError } from "../errors.js";

/**
 * Path variables and query parameters arrive as strings; the request message is built with
 * `fromJson`, which takes `"7"` for an int32 but not `"true"` for a bool. This module turns
 * each string into the JSON value its field expects, so that `fromJson` (and its error naming
 * the field) stays the one validator.
 */

/** Well-known wrapper types whose JSON form is the wrapped scalar. */
const wrapperScalars: Record<string, ScalarType> = {
  "google.protobuf.BoolValue": ScalarType.BOOL,
  "google.protobuf.Int32Value": ScalarType.INT32,
  "google.protobuf.UInt32Value": ScalarType.UINT32,
  "google.protobuf.Int64Value": ScalarType.INT64,
  "google.protobuf.UInt64Value": ScalarType.UINT64,
  "google.protobuf.FloatValue": ScalarType.FLOAT,
  "google.protobuf.DoubleValue": ScalarType.DOUBLE,
  "google.protobuf.StringValue": ScalarType.STRING,
  "google.protobuf.BytesValue": ScalarType.BYTES,
};

/** Message types written as a JSON string (RFC 3339 time, `3.5s`, `a,b`). */
const stringMessages = new Set(["google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"]);

/** How deep query parameter names reach into nested messages (`options.cas` is two). */
const maxQueryDepth = 3;

/**
 * The query parameters a route takes, as dotted proto names: every field of the request a string
 * can express (scalars, enums, repeated scalars, wrappers, times, durations), nested messages of
 * ours included (`options.cas`), less the top-level fields the URL path or a named body binds.
 */
export function queryParamNames(desc: DescMessage, bound: readonly string[]): string[] {
  const names: string[] = [];
  const walk = (message: DescMessage, prefix: string, depth: number) => {
    for (const field of message.fields) {
      const name = prefix + field.name;
      if (bound.includes(name)) continue;
      if (field.fieldKind === "message" && !field.message.typeName.startsWith("google.protobuf.")) {
        if (depth < maxQueryDepth) walk(field.message, `${name}.`, depth + 1);
      } else if (stringToJson(field, "") !== undefined) {
        names.push(name);
      }
    }
  };
  walk(desc, "", 1);
  return names;
}

/** A query parameter is named in an error only when it looks like a (dotted) field name: any other name may be request content. */
const paramName = /^[A-Za-z_][A-Za-z0-9_]{0,63}(?:\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,3}$/;

/**
 * Refuses a query that names anything but the route's query parameters (`allowed`, from
 * `queryParamNames`): an unknown parameter is never dropped silently. The error names the
 * parameter (when it looks like a field name) and what the route takes.
 */
export function checkQueryParams(desc: DescMessage, allowed: ReadonlySet<string>, params: URLSearchParams, bodyTakesAll: boolean): void {
  for (const name of new Set(params.keys())) {
    const path = resolveFieldPath(desc, name);
    if (path && allowed.has(path.map((f) => f.name).join("."))) continue;
    const shown = paramName.test(name) ? `"${name}"` : "(name not shown: it is not shaped like a field name)";
    const takes = bodyTakesAll ? "this route takes its fields in the JSON body" : allowed.size > 0 ? `this route takes: ${[...allowed].join(", ")}` : "this route takes none";
    const what = path ? `query parameter ${shown} cannot be given in the query` : `unknown query parameter ${shown}`;
    throw new ScaiVaultError("invalid_request", `${what} (${takes})`);
  }
}

/** Sets the fields named by query parameters (`?tag=a&tag=b&limit=5&options.cas=0`) in `target`, unless already present; names no field takes are left to `checkQueryParams`. */
export function mergeQueryParams(desc: DescMessage, params: URLSearchParams, target: JsonObject): void {
  for (const name of new Set(params.keys())) {
    const path = resolveFieldPath(desc, name);
    if (!path) continue;
    const field = path[path.length - 1]!;
    // Repeated fields take every value (`?tag=a&tag=b`); a singular field given twice takes the last.
    const values = params.getAll(name).map((raw) => stringToJson(field, raw));
    if (values.some((v) => v === undefined)) continue;
    setFieldValue(path, target, field.fieldKind === "list" ? (values as JsonValue[]) : values[values.length - 1]!, false);
  }
}

/** Sets a path variable (`id`, `secret_path`, or a dotted `options.cas`) in `target`, overriding what the body said. */
export function setPathVariable(desc: DescMessage, fieldPath: string, raw: string, target: JsonObject): void {
  const path = resolveFieldPath(desc, fieldPath);
  if (!path) throw new Error(`path variable "${fieldPath}" is not a field of ${desc.typeName}`);
  const value = stringToJson(path[path.length - 1]!, raw);
  if (value !== undefined) setFieldValue(path, target, value, true);
}

/** Resolves a dotted name (proto or JSON spelling) to its chain of fields, or undefined. */
export function resolveFieldPath(desc: DescMessage, dotted: string): DescField[] | undefined {
  const chain: DescField[] = [];
  let current: DescMessage | undefined = desc;
  for (const name of dotted.split(".")) {
    const field: DescField | undefined = current?.fields.find((f) => f.name === name || f.jsonName === name);
    if (!field) return undefined;
    chain.push(field);
    current = field.fieldKind === "message" && !field.message.typeName.startsWith("google.protobuf.") ? field.message : undefined;
  }
  return chain;
}

/** The JSON value of a string for the field's type; undefined for types a string cannot express (maps, structs, plain messages). */
function stringToJson(field: DescField, raw: string): JsonValue | undefined {
  switch (field.fieldKind) {
    case "scalar":
      return scalarToJson(field.scalar, raw);
    case "enum":
      return /^-?\d+$/.test(raw) ? Number(raw) : raw;
    case "list":
      if (field.listKind === "scalar") return scalarToJson(field.scalar, raw);
      if (field.listKind === "enum") return /^-?\d+$/.test(raw) ? Number(raw) : raw;
      return undefined;
    case "message": {
      const wrapped = wrapperScalars[field.message.typeName];
      if (wrapped !== undefined) return scalarToJson(wrapped, raw);
      return stringMessages.has(field.message.typeName) ? raw : undefined;
    }
    default:
      return undefined;
  }
}

function scalarToJson(type: ScalarType, raw: string): JsonValue {
  if (type !== ScalarType.BOOL) return raw; // fromJson parses numbers, bytes and strings from strings.
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  return raw; // fromJson rejects it, naming the field.
}

function setFieldValue(path: DescField[], target: JsonObject, value: JsonValue, override: boolean): void {
  let object = target;
  for (const [i, field] of path.entries()) {
    // A field may already be present under its JSON name (`secretPath`); fromJson rejects both at once.
    const key = field.jsonName in object ? field.jsonName : field.name;
    if (i === path.length - 1) {
      if (key in object && !override) return;
      if (key !== field.name) delete object[key];
      object[field.name] = value;
      return;
    }
    const next = object[key];
    if (typeof next !== "object" || next === null || Array.isArray(next)) {
      if (next !== undefined && !override) return;
      object[key] = {};
    }
    object = object[key] as JsonObject;
  }
}
