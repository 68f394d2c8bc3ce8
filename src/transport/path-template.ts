/**
 * `google.api.http` path templates: `/v1/rotation/policies/{id}`, `/v1/secrets/{path=**}`.
 *
 * Beyond the official grammar, a multi-segment variable may be followed by literal segments
 * (`/v1/secrets/{path=**}/versions`), as grpc-gateway allows: the documented routes need it.
 * A template may end in a `:verb` (`/v1/secrets:batchPut`, the grammar's `Verb = ":" LITERAL`):
 * a path matches it only when its last segment ends in that same `:verb`, and the rest of the
 * path matches the segments. A template without a verb matches a path's colons as part of its
 * segments, as before. Not served (rejected when the route table is built): bare `*` / `**`
 * segments, variables with sub-templates such as `{name=shelves/*}`, and more than one `**`.
 */

/** A literal segment or a variable (`{id}`: one segment; `{path=**}`: one or more). */
export type Segment = { kind: "literal"; value: string } | { kind: "variable"; fieldPath: string; multi: boolean };

/** A parsed path template and what its precedence is ranked by. */
export interface PathTemplate {
  readonly source: string;
  readonly segments: readonly Segment[];
  /** The custom method after the last segment (`batchPut` of `/v1/secrets:batchPut`), or undefined. */
  readonly verb: string | undefined;
  /** Literal segments, the verb counted as one: it is as specific as a literal. */
  readonly literals: number;
  readonly wildcards: number;
  /** Index of the `**` variable, or -1. */
  readonly multiAt: number;
}

/** Parses a path template; throws when it uses a form this router does not serve. */
export function parsePathTemplate(source: string): PathTemplate {
  const verbMatch = /^([^:]*)(?::([A-Za-z][A-Za-z0-9_]*))?$/.exec(source);
  if (!source.startsWith("/") || !verbMatch) throw new Error(`unsupported path template "${source}"`);
  const verb = verbMatch[2];
  const segments = verbMatch[1]!
    .slice(1)
    .split("/")
    .map((text): Segment => {
      const variable = /^\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(?:=(\*\*?))?\}$/.exec(text);
      if (variable) return { kind: "variable", fieldPath: variable[1]!, multi: variable[2] === "**" };
      if (text === "" || /[{}*]/.test(text)) throw new Error(`unsupported path template "${source}"`);
      return { kind: "literal", value: text };
    });
  const multis = segments.filter((s) => s.kind === "variable" && s.multi).length;
  if (multis > 1) throw new Error(`unsupported path template "${source}": more than one "**"`);
  const literalSegments = segments.filter((s) => s.kind === "literal").length;
  const multiAt = segments.findIndex((s) => s.kind === "variable" && s.multi);
  return { source, segments, verb, literals: literalSegments + (verb ? 1 : 0), wildcards: segments.length - literalSegments, multiAt };
}

/**
 * Matches a raw (still percent-encoded) URL path against the template and returns the decoded
 * variables, or undefined. Throws URIError on malformed percent-encoding in a variable.
 */
export function matchPathTemplate(template: PathTemplate, rawPath: string): Record<string, string> | undefined {
  if (!rawPath.startsWith("/")) return undefined;
  return matchPathSegments(template, rawPath.slice(1).split("/"));
}

/** `matchPathTemplate` for a path already split at its slashes (without the leading one): a router splits once for all routes. */
export function matchPathSegments(template: PathTemplate, parts: readonly string[]): Record<string, string> | undefined {
  if (template.verb !== undefined) {
    const suffix = `:${template.verb}`;
    const last = parts[parts.length - 1]!;
    if (!last.endsWith(suffix)) return undefined;
    parts = [...parts.slice(0, -1), last.slice(0, -suffix.length)];
  }
  const { segments, multiAt } = template;
  if (multiAt < 0 ? parts.length !== segments.length : parts.length < segments.length) return undefined;
  // Literals first, cheapest rejection: they sit before the `**` at their own index, after it counted from the end.
  const tail = parts.length - segments.length;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment.kind !== "literal") continue;
    if (parts[multiAt >= 0 && i > multiAt ? i + tail : i] !== segment.value) return undefined;
  }
  let found: Array<{ fieldPath: string; multi: boolean; taken: string[] }> | undefined;
  let at = 0;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    // A `**` takes whatever the other segments leave over (at least one segment).
    const width = i === multiAt ? tail + 1 : 1;
    const taken = width === 1 ? [parts[at]!] : parts.slice(at, at + width);
    at += width;
    if (taken.includes("")) return undefined;
    if (segment.kind === "variable") (found ??= []).push({ fieldPath: segment.fieldPath, multi: segment.multi, taken });
  }
  // Decoding waits until the whole template matched: a malformed escape only fails a route
  // that would actually serve the path.
  const variables: Record<string, string> = {};
  for (const { fieldPath, multi, taken } of found ?? []) {
    // `%2F` is a slash of the value in both kinds (`{secret_path}` = `team%2Fdb` → `team/db`;
    // `{path=**}` = `a%2Fb/c` → `a/b/c`): clients such as Swagger UI encode the slashes of a
    // path parameter, and secret paths cannot contain `%`, so nothing is lost. Routing was
    // decided on the raw path above, so an encoded slash can never turn into a literal tail.
    variables[fieldPath] = multi ? taken.map((t) => decodeURIComponent(t)).join("/") : decodeURIComponent(taken[0]!);
  }
  return variables;
}

/** Orders templates so that the more specific comes first: more literal segments, then fewer wildcards. */
export function compareSpecificity(a: PathTemplate, b: PathTemplate): number {
  return b.literals - a.literals || a.wildcards - b.wildcards;
}
