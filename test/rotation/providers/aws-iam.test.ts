import { GetUserCommand, IAMClient } from "@aws-sdk/client-iam";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../../src/clock.js";
import { ScaiVaultError } from "../../../src/errors.js";
import { createAwsIamProvider } from "../../../src/provider-rotation/providers/aws-iam.js";
import { startFakeIam, type FakeIam } from "../../support/fake-iam.js";
import { providerCall } from "./provider-call.js";
import { createAllowList } from "../../../src/outbound/ssrf-guard.js";

/** The loopback stand-ins are allowed the way webhook tests allow them (SCAIVAULT_WEBHOOK_ALLOW_HOSTS=127.0.0.1). */
const loopback = createAllowList(["127.0.0.1"]);

let iam: FakeIam;
beforeAll(async () => {
  iam = await startFakeIam();
});
afterAll(async () => {
  await iam.close();
});

let userCounter = 0;
const newUserName = () => `svc-app-${++userCounter}`;

/** A signed call with the given key, from outside the provider: what a consumer holding it would see. */
async function callerIdentityWith(key: { access_key_id: string; secret_access_key: string }): Promise<string> {
  const client = new IAMClient({
    region: "us-east-1",
    endpoint: iam.url,
    maxAttempts: 1,
    credentials: { accessKeyId: key.access_key_id, secretAccessKey: key.secret_access_key },
  });
  try {
    const out = await client.send(new GetUserCommand({}));
    return out.User?.UserName ?? "";
  } catch (err) {
    return `refused: ${(err as Error).name}`;
  } finally {
    client.destroy();
  }
}

function asData(k: { accessKeyId: string; secretAccessKey: string }) {
  return { access_key_id: k.accessKeyId, secret_access_key: k.secretAccessKey };
}

/** A sleep that walks the manual clock instead of waiting, recording each wait. */
function clockSleep(clock: ReturnType<typeof createManualClock>, waits: number[]) {
  return async (ms: number) => {
    waits.push(ms);
    clock.advance(ms);
  };
}

describe("aws_iam provider against an IAM-compatible endpoint (real SDK, SigV4 checked)", () => {
  it("rotates with a rotation identity: new key works, old key works through grace, old key refused after revoke", async () => {
    const user = newUserName();
    const rotator = iam.seedKey("rotator");
    const old = asData(iam.seedKey(user));
    const provider = createAwsIamProvider({ allow: loopback });
    const config = { iam_user_name: user, region: "us-east-1", endpoint: iam.url };
    const credentials = asData(rotator);
    provider.validate(config, credentials);

    const call = providerCall({ config, credentials, current: old });
    const issued = await provider.create(call);
    expect(issued.summary).toBe("ListAccessKeys 200, CreateAccessKey 200");
    expect(issued.data.access_key_id).not.toBe(old.access_key_id);
    expect(issued.summary).not.toContain(String(issued.data.secret_access_key));
    expect(iam.keysOf(user).map((k) => k.accessKeyId).sort()).toEqual([old.access_key_id, issued.data.access_key_id].sort());
    // The management calls were signed by the rotation identity, not by the secret's key.
    const management = iam.requests.filter((r) => r.params.UserName === user);
    expect(management.map((r) => [r.action, r.accessKeyId])).toEqual([
      ["ListAccessKeys", rotator.accessKeyId],
      ["CreateAccessKey", rotator.accessKeyId],
    ]);

    const tested = await provider.test(call, issued.data);
    expect(tested.summary).toContain("GetUser signed with the new key 200");
    const newKey = issued.data as { access_key_id: string; secret_access_key: string };
    expect(await callerIdentityWith(newKey)).toBe(user);

    // Promoted: the new key is current, the old one is in its grace period and still works.
    const afterPromote = providerCall({ config, credentials, current: issued.data });
    expect(await callerIdentityWith(old)).toBe(user);

    const revoked = await provider.revoke(afterPromote, old);
    expect(revoked.summary).toBe("UpdateAccessKey Inactive 200, DeleteAccessKey 200");
    expect(await callerIdentityWith(old)).toBe("refused: InvalidClientTokenId");
    expect(await callerIdentityWith(newKey)).toBe(user);
    expect(iam.keysOf(user)).toEqual([{ accessKeyId: newKey.access_key_id, status: "Active" }]);

    // A revoke repeated after a crash finds the key gone and succeeds.
    expect((await provider.revoke(afterPromote, old)).summary).toContain("already deleted");
  });

  it("without credentials the secret's own current key creates its successor and the new key revokes the old", async () => {
    const user = newUserName();
    const old = asData(iam.seedKey(user));
    const provider = createAwsIamProvider({ allow: loopback });
    const config = { iam_user_name: user, region: "eu-west-1", endpoint: iam.url };
    provider.validate(config, undefined);

    const issued = await provider.create(providerCall({ config, current: old }));
    expect(iam.requests.filter((r) => r.action === "CreateAccessKey").at(-1)).toMatchObject({ accessKeyId: old.access_key_id, region: "eu-west-1" });
    await provider.test(providerCall({ config, current: old }), issued.data);
    await provider.revoke(providerCall({ config, current: issued.data }), old);
    expect(iam.requests.filter((r) => r.action === "DeleteAccessKey").at(-1)).toMatchObject({
      accessKeyId: issued.data.access_key_id,
      params: expect.objectContaining({ AccessKeyId: old.access_key_id }),
    });
    expect(await callerIdentityWith(old)).toBe("refused: InvalidClientTokenId");
  });

  it("deletes the orphan of a crashed run when the user already has two keys, then creates the new one", async () => {
    const user = newUserName();
    const rotator = asData(iam.seedKey("rotator"));
    const current = asData(iam.seedKey(user));
    const orphan = asData(iam.seedKey(user));
    const provider = createAwsIamProvider({ allow: loopback });
    const config = { iam_user_name: user, region: "us-east-1", endpoint: iam.url };

    const issued = await provider.create(providerCall({ config, credentials: rotator, current }));
    expect(issued.summary).toBe("ListAccessKeys 200, DeleteAccessKey (orphan) 200, CreateAccessKey 200");
    expect(iam.keysOf(user).map((k) => k.accessKeyId).sort()).toEqual([current.access_key_id, issued.data.access_key_id].sort());
    expect(await callerIdentityWith(orphan)).toBe("refused: InvalidClientTokenId");
    expect(await callerIdentityWith(current)).toBe(user);
  });

  it("refuses to guess when two keys exist and neither is the current version's", async () => {
    const user = newUserName();
    const rotator = asData(iam.seedKey("rotator"));
    iam.seedKey(user);
    iam.seedKey(user);
    const provider = createAwsIamProvider({ allow: loopback });
    const config = { iam_user_name: user, region: "us-east-1", endpoint: iam.url };
    const err = await provider.create(providerCall({ config, credentials: rotator, current: undefined })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ScaiVaultError);
    expect((err as ScaiVaultError).code).toBe("invalid_request");
    expect((err as ScaiVaultError).message).toContain("already has two access keys");
    expect(iam.keysOf(user)).toHaveLength(2);
  });

  it("test retries with backoff on the injected clock while IAM has not propagated the new key", async () => {
    const user = newUserName();
    const rotator = asData(iam.seedKey("rotator"));
    const old = asData(iam.seedKey(user));
    const clock = createManualClock();
    const waits: number[] = [];
    const provider = createAwsIamProvider({ allow: loopback, sleep: clockSleep(clock, waits) });
    const config = { iam_user_name: user, region: "us-east-1", endpoint: iam.url };
    const call = providerCall({ config, credentials: rotator, current: old, clock });

    iam.propagationDelayCalls = 3;
    const issued = await provider.create(call).finally(() => {
      iam.propagationDelayCalls = 0;
    });
    const refusedBefore = iam.refusals.filter((r) => r.accessKeyId === issued.data.access_key_id).length;
    const tested = await provider.test(call, issued.data);
    expect(tested.summary).toBe("GetUser signed with the new key 200 (try 4)");
    expect(iam.refusals.filter((r) => r.accessKeyId === issued.data.access_key_id).length - refusedBefore).toBe(3);
    expect(waits).toEqual([1_000, 2_000, 4_000]);
  });

  it("test gives up after the propagation window when the key never works, and discard deletes it", async () => {
    const user = newUserName();
    const rotator = asData(iam.seedKey("rotator"));
    const old = asData(iam.seedKey(user));
    const clock = createManualClock();
    const waits: number[] = [];
    const provider = createAwsIamProvider({ allow: loopback, sleep: clockSleep(clock, waits) });
    const config = { iam_user_name: user, region: "us-east-1", endpoint: iam.url };
    const call = providerCall({ config, credentials: rotator, current: old, clock });

    iam.propagationDelayCalls = 1_000;
    const issued = await provider.create(call).finally(() => {
      iam.propagationDelayCalls = 0;
    });
    const err = await provider.test(call, issued.data).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ScaiVaultError);
    expect((err as ScaiVaultError).code).toBe("unavailable");
    expect((err as ScaiVaultError).message).toBe("IAM did not accept the new access key within 60s (InvalidClientTokenId)");
    expect((err as ScaiVaultError).message).not.toContain(String(issued.data.secret_access_key));
    expect(waits.reduce((a, b) => a + b, 0)).toBe(60_000);
    expect(Math.max(...waits)).toBe(8_000);

    const discarded = await provider.discard(call, issued.data);
    expect(discarded.summary).toBe("UpdateAccessKey Inactive 200, DeleteAccessKey 200");
    expect(iam.keysOf(user)).toEqual([{ accessKeyId: old.access_key_id, status: "Active" }]);
    expect(await callerIdentityWith(old)).toBe(user);
  });

  it("AccessDenied on the test call proves the key: IAM authenticated it before checking permissions", async () => {
    const user = newUserName();
    const rotator = asData(iam.seedKey("rotator"));
    const old = asData(iam.seedKey(user));
    iam.usersWithoutGetUser.add(user);
    const provider = createAwsIamProvider({ allow: loopback });
    const config = { iam_user_name: user, region: "us-east-1", endpoint: iam.url };
    const call = providerCall({ config, credentials: rotator, current: old });
    const issued = await provider.create(call);
    expect((await provider.test(call, issued.data)).summary).toBe("GetUser signed with the new key: AccessDenied, key accepted (try 1)");
    // A key IAM does not know is not mistaken for one: it fails after the window.
    const clock = createManualClock();
    const strict = createAwsIamProvider({ allow: loopback, sleep: clockSleep(clock, []) });
    const forged = { access_key_id: "AKIANOTISSUED", secret_access_key: "x" };
    await expect(strict.test(providerCall({ config, current: old, clock }), forged)).rejects.toThrow("(InvalidClientTokenId)");
  });

  it("never revokes or discards the current version's key", async () => {
    const user = newUserName();
    const current = asData(iam.seedKey(user));
    const provider = createAwsIamProvider({ allow: loopback });
    const config = { iam_user_name: user, region: "us-east-1", endpoint: iam.url };
    const call = providerCall({ config, current });
    await expect(provider.revoke(call, current)).rejects.toThrow("refuses to revoke the current version's access key");
    await expect(provider.discard(call, current)).rejects.toThrow("refuses to discard the current version's access key");
    expect(await callerIdentityWith(current)).toBe(user);
  });

  it("a key the endpoint did not issue is refused at the signature check", async () => {
    const user = newUserName();
    const real = iam.seedKey(user);
    const provider = createAwsIamProvider({ allow: loopback, maxAttempts: 1 });
    const config = { iam_user_name: user, region: "us-east-1", endpoint: iam.url };
    const forged = { access_key_id: real.accessKeyId, secret_access_key: "not-the-secret" };
    const err = await provider.create(providerCall({ config, credentials: forged })).catch((e: unknown) => e);
    expect((err as ScaiVaultError).message).toBe("IAM ListAccessKeys failed: SignatureDoesNotMatch (403)");
    expect(iam.keysOf(user)).toHaveLength(1);
  });

  it("validate names the bad field", () => {
    const provider = createAwsIamProvider({ allow: loopback });
    const ok = { iam_user_name: "svc", region: "us-east-1" };
    expect(() => provider.validate({ region: "us-east-1" }, undefined)).toThrow("config.iam_user_name is required");
    expect(() => provider.validate({ ...ok, iam_user_name: "bad name!" }, undefined)).toThrow("config.iam_user_name must be an IAM user name");
    expect(() => provider.validate({ iam_user_name: "svc" }, undefined)).toThrow("config.region is required");
    expect(() => provider.validate({ ...ok, endpoint: "ftp://x" }, undefined)).toThrow("config.endpoint must be an http(s) URL");
    expect(() => provider.validate(ok, { access_key_id: "AKIA1" })).toThrow("credentials.secret_access_key is required");
    expect(() => provider.validate(ok, undefined)).not.toThrow();
  });
});
