// The custom webhook's `metadata` answer: a string map kept on the new version and on its run
// (GET /v1/secrets/{path}/versions, GET /v1/rotation/secrets/{path}/runs), within documented
// limits. Entries that break them are dropped, not the rotation (the endpoint has already issued
// the credential), and the create step's detail says how many, naming no key or value.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { boundedMetadata, METADATA_LIMITS } from "../../src/provider-rotation/providers/webhook.js";
import type { TestVault } from "../support/vault.js";
import { startCredentialEndpoint, type CredentialEndpoint } from "./credential-endpoint.js";
import { longToken, startRotationVault } from "./rotation-fixtures.js";

const TENANT = "hook-metadata";
const SECRET = "metadata-hook-secret";

describe("the webhook answer's metadata", () => {
  const clock = createManualClock("2026-04-01T09:00:00Z");
  let tv: TestVault;
  let token: string;
  let endpoint: CredentialEndpoint;
  let answerMetadata: unknown;

  beforeAll(async () => {
    tv = await startRotationVault(clock);
    token = await longToken(tv, TENANT);
    endpoint = await startCredentialEndpoint({ secret: SECRET, initial: ["v0"] });
    let n = 0;
    endpoint.override = (req) => (req.json?.action === "rotate" ? { status: 200, body: JSON.stringify({ newValue: `issued-${++n}`, metadata: answerMetadata }) } : undefined);
  });
  afterAll(async () => {
    await tv?.close();
    await endpoint?.close();
  });

  async function rotated(path: string) {
    if ((await tv.rest("GET", `/v1/secrets/${path}`, { token })).status === 404) {
      expect((await tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { api_key: "v0" } } })).status).toBe(201);
      const bound = await tv.rest("PUT", `/v1/rotation/secrets/${path}`, { token, body: { provider: "webhook", config: { url: endpoint.url }, credentials: { secret: SECRET }, grace_period: "0s" } });
      expect(bound.status).toBe(201);
    }
    const r = await tv.rest("POST", `/v1/secrets/${path}/rotate`, { token, body: {} });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await tv.vault.rotationRunner.runDue(clock.now());
    const runs = (await tv.rest("GET", `/v1/rotation/secrets/${path}/runs`, { token })).body.data;
    const versions = (await tv.rest("GET", `/v1/secrets/${path}/versions`, { token })).body.versions;
    return { run: runs[0], version: versions.find((v: { version: number }) => v.version === r.body.version), versions };
  }

  it("keeps the metadata on the new version and shows it in the run; each version keeps its own", async () => {
    answerMetadata = { key_id: "k-2026-04", issued_by: "partner-api", "region:eu": "fra1" };
    const { run, version } = await rotated("meta/kept");
    expect(run.metadata).toEqual(answerMetadata);
    expect(version.metadata).toEqual(answerMetadata);
    expect(run.steps.find((s: { step: string }) => s.step === "create").detail).toBe("POST rotate 200");

    // A later answer without metadata leaves none on its version.
    answerMetadata = undefined;
    const next = await rotated("meta/kept");
    expect(next.run.metadata).toEqual({});
    expect(next.version.metadata).toEqual({});
    expect(next.version.version).toBe(version.version + 1);
  });

  it("drops entries that break the rules, keeps the rest, and says how many in the create step without naming them", async () => {
    answerMetadata = { ok: "yes", count: 3, nested: { a: "b" }, "bad key": "x", long: "v".repeat(METADATA_LIMITS.valueChars + 1), [`k${"x".repeat(64)}`]: "y", fine: "too" };
    const { run, version } = await rotated("meta/dropped");
    expect(run.status).not.toBe("failed");
    // Numbers and booleans are kept as their JSON text.
    expect(version.metadata).toEqual({ ok: "yes", count: "3", fine: "too" });
    expect(run.metadata).toEqual({ ok: "yes", count: "3", fine: "too" });
    const detail = run.steps.find((s: { step: string }) => s.step === "create").detail as string;
    expect(detail).toMatch(/^POST rotate 200; metadata: 4 entries dropped \(kept: string, number and true\/false values/);
    expect(detail).not.toContain("bad key");
    expect(detail).not.toContain("vvvv");
  });

  it("a metadata that is not an object is dropped whole; the rotation succeeds", async () => {
    answerMetadata = ["not", "a", "map"];
    const { run, version } = await rotated("meta/array");
    expect(version.metadata).toEqual({});
    expect(run.steps.find((s: { step: string }) => s.step === "create").detail).toMatch(/metadata: 1 entry dropped/);
  });

  it("bounds the number of entries and their total size", () => {
    const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, "v"]));
    const byCount = boundedMetadata(many);
    expect(Object.keys(byCount.entries!)).toHaveLength(METADATA_LIMITS.entries);
    expect(byCount.dropped).toBe(8);
    const big = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, "v".repeat(1000)]));
    const bySize = boundedMetadata(big);
    expect(Object.keys(bySize.entries!)).toEqual(["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"]);
    expect(bySize.dropped).toBe(2);
    expect(boundedMetadata(null)).toEqual({ entries: undefined, dropped: 0 });
    expect(boundedMetadata("text")).toEqual({ entries: undefined, dropped: 1 });
  });
});
