import { toJson, type DescMessage, type JsonObject, type JsonValue, type MessageShape } from "@bufbuild/protobuf";

/** A message as the REST API writes it: snake_case names, implicit fields present. */
export function messageJson<D extends DescMessage>(schema: D, message: MessageShape<D>): JsonObject {
  return toJson(schema, message, { useProtoFieldName: true, alwaysEmitImplicit: true }) as JsonObject;
}

/** One cell of a table: strings as they are, lists comma-separated, objects as compact JSON, absent as `-`. */
export function cell(value: JsonValue | undefined): string {
  if (value === undefined || value === null || value === "") return "-";
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.every((v) => typeof v !== "object" || v === null)) return value.length ? value.join(", ") : "-";
  return JSON.stringify(value);
}

/** Columns aligned with two spaces, a header row in capitals. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...rows.map(line)].join("\n") + "\n";
}

/** Rows of `key  value`, for one object. */
export function keyValues(object: JsonObject): string {
  const keys = Object.keys(object);
  const width = Math.max(0, ...keys.map((k) => k.length));
  return keys.map((k) => `${k.padEnd(width)}  ${cell(object[k])}`).join("\n") + "\n";
}

/** A table of JSON objects by the given columns (keys of the objects). */
export function objectTable(columns: string[], objects: JsonObject[]): string {
  return table(columns, objects.map((o) => columns.map((c) => cell(o[c]))));
}
