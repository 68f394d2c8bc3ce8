// The guide's "End-to-end: event-driven rotation for an OAuth credential", with a real receiver on
// 127.0.0.1 playing the guide's FastAPI handler: it verifies each delivery, ignores warnings, and on
// `due_now` writes the new credential back over REST. The real rotation scheduler drives it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { generateWebhookSecret } from "../../src/webhooks/signature.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { drain, startReceiver, webhookTestEnv, type Receiver } from "./receiver.js";

const DAY = 86_400_000;
const PATH = "integrations/salesforce/oauth";

describe("the guide's event-driven rotation, end to end through a signed webhook", () => {
  const clock = createManualClock("2026-04-23T14:00:00Z");
  const secret = generateWebhookSecret();
  let tv: TestVault;
  let token: string;
  let receiver: Receiver;
  const handled: string[] = [];

  beforeAll(async () => {
    tv = await startTestVault({ clock, env: { ...webhookTestEnv, SCAIVAULT_SCHEDULER_ENABLED: "false" } });
    token = await tv.token({ tenantId: "acme", scopes: ["admin", "audit:read"], ttlSeconds: 400 * 86400 });
    receiver = await startReceiver({ secret, clock, path: "/scaivault/rotate-oauth" });
    let generation = 1;
    // The guide's handler, verbatim in spirit.
    receiver.respond(async ({ event }) => {
      if (event.event_type !== "rotation.due") return { status: 200 };
      if (!event.data.due_now) {
        handled.push(`warning ${event.data.warn_before}`);
        return { status: 200 };
      }
      generation++;
      const put = await tv.rest("PUT", `/v1/secrets/${event.path}`, {
        token,
        body: { data: { client_id: "3MVG9", client_secret: `generation-${generation}` }, secret_type: "json" },
      });
      handled.push(`rotated ${event.path} -> v${put.body.version}`);
      return { status: put.status < 300 ? 200 : 500 };
    });
  });
  afterAll(async () => {
    await receiver?.close();
    await tv?.close();
  });

  it("walks policy, webhook, attachment, warnings, the due event and the write-back", async () => {
    // 1. Create the rotation policy
    const policy = await tv.rest("POST", "/v1/rotation/policies", {
      token,
      body: { name: "oauth-90d", interval: "90d", grace_period: "48h", warn_before: "7d,1d", auto_generate: false },
    });
    expect(policy.status).toBe(201);
    expect(policy.body.id).toBe("rot_oauth-90d");

    // 2. Register a webhook
    const hook = await tv.rest("POST", "/v1/webhooks", {
      token,
      body: { name: "oauth-rotation-handler", url: receiver.url, secret, events: ["rotation.due"] },
    });
    expect(hook.status).toBe(201);
    expect(hook.body).toMatchObject({ id: "wh_oauth-rotation-handler", events: ["rotation.due"], is_active: true });
    expect("secret" in hook.body).toBe(false);

    // 3. Attach the webhook to the policy
    const patched = await tv.rest("PATCH", "/v1/rotation/policies/rot_oauth-90d", { token, body: { webhook_ids: ["wh_oauth-rotation-handler"] } });
    expect(patched.status).toBe(200);
    expect(patched.body.webhook_ids).toEqual(["wh_oauth-rotation-handler"]);

    // 4. Attach the secret
    const put = await tv.rest("PUT", `/v1/secrets/${PATH}`, { token, body: { data: { client_id: "3MVG9", client_secret: "generation-1" }, secret_type: "json" } });
    expect(put.status).toBe(201);
    const assigned = await tv.rest("POST", "/v1/rotation/policies/rot_oauth-90d/secrets", { token, body: { secret_path: PATH } });
    expect(assigned.status).toBe(201);
    const due = Date.parse(assigned.body.next_rotation_at);
    expect(due).toBe(clock.now().getTime() + 90 * DAY);

    const step = async (at: number) => {
      clock.set(new Date(at));
      await tv.vault.scheduler.runSchedulerTick();
      await drain(tv);
    };
    // 5. The handler: warnings 7 days and 1 day before, then the due event, which it answers by writing.
    await step(due - 8 * DAY);
    expect(receiver.received).toHaveLength(0);
    await step(due - 7 * DAY);
    await step(due - 7 * DAY + 3600_000); // a second tick sends nothing new
    await step(due - DAY);
    expect(handled).toEqual(["warning 7d", "warning 1d"]);
    await step(due);
    expect(handled).toEqual(["warning 7d", "warning 1d", `rotated ${PATH} -> v2`]);

    // Every delivery was signed and verified; the envelope is what the guide's handler reads.
    expect(receiver.received).toHaveLength(3);
    for (const d of receiver.received) {
      expect(d.verifyError).toBeUndefined();
      expect(d.status).toBe(200);
      expect(Object.keys(d.event)).toEqual(["id", "event_type", "created_at", "tenant_id", "path", "data"]);
      expect(d.event).toMatchObject({ event_type: "rotation.due", tenant_id: "acme", path: PATH });
      expect(d.event.data).toMatchObject({ policy_id: "rot_oauth-90d", policy_name: "oauth-90d", next_rotation_at: new Date(due).toISOString().replace(".000Z", "Z") });
      expect(d.body).not.toContain("generation-");
    }
    expect(receiver.received.map((d) => [d.event.data.due_now, d.event.data.warn_before])).toEqual([
      [false, "7d"],
      [false, "1d"],
      [true, undefined],
    ]);

    // "ScaiVault schedules, your automation generates, ScaiVault records."
    const history = await tv.rest("GET", "/v1/rotation/policies/rot_oauth-90d/history", { token });
    expect(history.status).toBe(200);
    expect(history.body.data).toHaveLength(1);
    expect(history.body.data[0]).toMatchObject({ policy_id: "rot_oauth-90d", secret_path: PATH, status: "success", old_version: 1, new_version: 2 });
    const current = await tv.rest("GET", `/v1/secrets/${PATH}`, { token });
    expect(current.body).toMatchObject({ version: 2, data: { client_secret: "generation-2" } });
    const log = await tv.rest("GET", "/v1/webhooks/wh_oauth-rotation-handler/deliveries", { token });
    expect(log.body.data.map((a: any) => a.state)).toEqual(["delivered", "delivered", "delivered"]);

    // The next cycle starts from the write: nothing more until its own warnings.
    await step(due + 30 * DAY);
    expect(receiver.received).toHaveLength(3);
  });
});
