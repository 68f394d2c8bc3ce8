import { describe, expect, it } from "vitest";
import { createLogger, scrubCredentials } from "../../src/log.js";

const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLWJ5dGVz";

function capture(level: "debug" | "info" = "debug") {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level, write: (line) => lines.push(line) }) };
}

describe("logs through pino", () => {
  it("writes one JSON object a line with time, level, msg and the fields", () => {
    const { lines, logger } = capture("info");
    logger.debug("hidden");
    logger.child({ component: "scheduler" }).info("tick", { claimed: 3 });
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({ level: "info", msg: "tick", component: "scheduler", claimed: 3 });
    expect(new Date(line.time).toISOString()).toBe(line.time);
  });

  it("never writes a database URL's password, a bearer token or a JWT, wherever it hides", () => {
    const { lines, logger } = capture();
    const err = new Error("connect to postgres://svc:pa55word@db.internal:5432/vault failed", {
      cause: new Error(`upstream said Bearer ${jwt}`),
    });
    logger.error("database down postgres://svc:pa55word@db/x", { err, url: "postgresql://a:pa55word@h/db", nested: { headers: { note: `token ${jwt}` } } });
    logger.warn("fields named after credentials", { token: jwt, authorization: `Bearer ${jwt}`, password: "pa55word", config: { databaseUrl: "postgres://u:pa55word@h/d" } });
    logger.child({ dsn: "postgres://svc:pa55word@db/x" }).info("child bindings too");
    const all = lines.join("\n");
    expect(lines).toHaveLength(3);
    expect(all).not.toContain("pa55word");
    expect(all).not.toContain(jwt);
    expect(all).not.toContain("c2lnbmF0dXJlLWJ5dGVz");
    // What is left still says what happened.
    const first = JSON.parse(lines[0]!);
    expect(first.msg).toBe("database down postgres://svc:[redacted]@db/x");
    expect(first.err.message).toBe("connect to postgres://svc:[redacted]@db.internal:5432/vault failed");
    expect(first.err.cause.message).toBe("upstream said Bearer [redacted]");
    expect(first.err.stack).toContain("postgres://svc:[redacted]@db.internal");
    expect(JSON.parse(lines[1]!)).toMatchObject({ token: "[redacted]", authorization: "[redacted]", password: "[redacted]", config: { databaseUrl: "[redacted]" } });
  });

  it("leaves ordinary text alone", () => {
    expect(scrubCredentials("GET /v1/secrets/app/db 200")).toBe("GET /v1/secrets/app/db 200");
    expect(scrubCredentials("see https://example.com/docs")).toBe("see https://example.com/docs");
  });
});
