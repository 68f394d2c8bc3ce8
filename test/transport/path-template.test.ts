import { describe, expect, it } from "vitest";
import { compareSpecificity, matchPathTemplate, parsePathTemplate } from "../../src/transport/path-template.js";

const match = (template: string, path: string) => matchPathTemplate(parsePathTemplate(template), path);

describe("path templates", () => {
  it("matches literals and single-segment variables", () => {
    expect(match("/v1/rotation/policies/{id}", "/v1/rotation/policies/rot_q")).toEqual({ id: "rot_q" });
    expect(match("/v1/rotation/policies/{id}", "/v1/rotation/policies/rot_q/enable")).toBeUndefined();
    expect(match("/v1/rotation/policies/{id}", "/v1/rotation/policies/")).toBeUndefined();
    expect(match("/v1/rotation/policies/{id}", "/v1/Rotation/policies/x")).toBeUndefined();
  });

  it("lets ** take one or more segments, with literal segments after it", () => {
    expect(match("/v1/secrets/{path=**}", "/v1/secrets/a")).toEqual({ path: "a" });
    expect(match("/v1/secrets/{path=**}", "/v1/secrets/a/b/c")).toEqual({ path: "a/b/c" });
    expect(match("/v1/secrets/{path=**}", "/v1/secrets")).toBeUndefined();
    expect(match("/v1/secrets/{path=**}/versions", "/v1/secrets/a/b/versions")).toEqual({ path: "a/b" });
    expect(match("/v1/secrets/{path=**}/versions", "/v1/secrets/versions")).toBeUndefined();
    expect(match("/v1/secrets/{path=**}", "/v1/secrets/a//b")).toBeUndefined();
  });

  it("decodes %2F in a single segment and in **", () => {
    expect(match("/v1/p/{id}/secrets/{secret_path}", "/v1/p/x/secrets/team%2Fdb")).toEqual({ id: "x", secret_path: "team/db" });
    expect(match("/v1/secrets/{path=**}", "/v1/secrets/a%2fb/%41")).toEqual({ path: "a/b/A" });
    expect(() => match("/v1/p/{id}", "/v1/p/%E0%A4%A")).toThrow(URIError);
  });

  it("ranks more literal segments first, then fewer wildcards", () => {
    const sorted = ["/v1/secrets/{path=**}", "/v1/secrets/{path=**}/versions", "/v1/secrets/metadata/{path=**}", "/v1/secrets/expiring"]
      .map(parsePathTemplate)
      .sort(compareSpecificity)
      .map((t) => t.source);
    expect(sorted.slice(0, 1)).toEqual(["/v1/secrets/expiring"]);
    expect(sorted[sorted.length - 1]).toBe("/v1/secrets/{path=**}");
  });

  it("matches a :verb only on a last segment ending in that verb", () => {
    expect(match("/v1/secrets:batchPut", "/v1/secrets:batchPut")).toEqual({});
    expect(match("/v1/secrets:batchPut", "/v1/secrets")).toBeUndefined();
    expect(match("/v1/secrets:batchPut", "/v1/secrets:batchGet")).toBeUndefined();
    expect(match("/v1/secrets:batchPut", "/v1/secrets/x:batchPut")).toBeUndefined();
    expect(match("/v1/secrets:batchPut", "/v1/secretsx:batchPut")).toBeUndefined();
    expect(match("/v1/secrets:batchPut", "/v1/secrets:batchPut:batchPut")).toBeUndefined();
    expect(match("/v1/secrets/{path=**}:undelete", "/v1/secrets/a/b:undelete")).toEqual({ path: "a/b" });
    expect(match("/v1/secrets/{path=**}:undelete", "/v1/secrets/:undelete")).toBeUndefined();
    expect(match("/v1/things/{id}:cancel", "/v1/things/t%3A1:cancel")).toEqual({ id: "t:1" });
    // A template without a verb keeps matching colons as part of a segment.
    expect(match("/v1/secrets/{path=**}", "/v1/secrets/a:b")).toEqual({ path: "a:b" });
    expect(match("/v1/secrets", "/v1/secrets:batchPut")).toBeUndefined();
  });

  it("ranks a verb like a literal segment", () => {
    const sorted = ["/v1/secrets/{path=**}", "/v1/secrets/{path=**}:undelete"].map(parsePathTemplate).sort(compareSpecificity);
    expect(sorted.map((t) => t.source)).toEqual(["/v1/secrets/{path=**}:undelete", "/v1/secrets/{path=**}"]);
    expect(parsePathTemplate("/v1/secrets:batchPut").verb).toBe("batchPut");
    expect(parsePathTemplate("/v1/secrets").verb).toBeUndefined();
  });

  it.each(["v1/x", "/v1/{a=**}/{b=**}", "/v1/{name=shelves/*}", "/v1/x:", "/v1/x:a:b", "/v1/x:verb/y", "/v1/x:ver-b", "/v1/*", "/v1//x"])("rejects %s", (template) => {
    expect(() => parsePathTemplate(template)).toThrow();
  });
});
