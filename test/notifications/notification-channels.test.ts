import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { inTransaction } from "../../src/db/database.js";
import { appendEvents } from "../../src/events/outbox-store.js";
import { grpcClient, reasonOf, unary } from "../support/grpc.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { startSlackEndpoint, startSmtpServer } from "./channel-servers.js";

const canary = "notify-canary-value-51c2e8";

describe("notification channels: email over SMTP and Slack webhooks on 127.0.0.1", () => {
  const clock = createManualClock("2026-04-23T14:00:00Z");
  let v: TestVault;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let slack: Awaited<ReturnType<typeof startSlackEndpoint>>;
  let admin: string;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    slack = await startSlackEndpoint();
    v = await startTestVault({
      clock,
      env: {
        SCAIVAULT_WEBHOOK_ALLOW_HOSTS: "127.0.0.1",
        SCAIVAULT_WEBHOOK_POLL: "1h",
        SCAIVAULT_SMTP_URL: smtp.url,
        SCAIVAULT_SMTP_FROM: "ScaiVault <vault@example.test>",
        SCAIVAULT_PUBLIC_URL: "https://vault.example.test/",
      },
    });
    admin = await v.token({ tenantId: "acme", scopes: ["admin"] });
  }, 180_000);
  afterAll(async () => {
    await v?.close();
    await smtp?.close();
    await slack?.close();
  }, 60_000);

  /** Fans out every event and sends every due message once. */
  async function deliver() {
    while ((await v.vault.webhookDelivery.runDispatchOnce()).events > 0);
    return v.vault.notificationWorker.runDeliveryOnce();
  }

  /** A rotation failure as the scheduler writes it to the outbox. */
  async function rotationFailed(path: string, policy?: { id: string; name: string }) {
    await inTransaction(v.vault.db, (tx) =>
      appendEvents(tx, [
        {
          tenantId: "acme",
          eventType: "rotation.failed",
          path,
          policyId: policy?.id,
          data: { policy_id: policy?.id ?? null, policy_name: policy?.name ?? null, error: "secret policy sp_gone not found", attempt: 1, will_retry: true, next_attempt_at: "2026-04-23T14:05:00Z" },
          createdAt: clock.now(),
        },
      ]),
    );
  }

  it("emails the recipients: urgent failures with high priority and the failure first in the subject; paths, never values", async () => {
    const created = await v.rest("POST", "/v1/notification-channels", {
      token: admin,
      body: { name: "oncall", type: "email", config: { to: ["oncall@example.test", "owner@example.test"] }, events: ["rotation.failed", "rotation.completed"] },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: "nc_oncall", type: "email", config: { to: ["oncall@example.test", "owner@example.test"] }, is_active: true });

    expect((await v.rest("PUT", "/v1/secrets/app/db", { token: admin, body: { data: { password: canary } } })).status).toBe(201);
    await rotationFailed("app/db");
    expect((await v.rest("POST", "/v1/secrets/app/db/rotate", { token: admin, body: { new_value: { password: canary + "-2" } } })).status).toBe(200);
    const round = await deliver();
    expect(round).toMatchObject({ claimed: 2, delivered: 2 });
    expect(smtp.mails).toHaveLength(2);
    const failed = smtp.mails.find((m) => m.headers.subject!.startsWith("Rotation failed"))!;
    const rotated = smtp.mails.find((m) => m.headers.subject!.startsWith("Secret rotated"))!;
    expect(failed.rcptTo.sort()).toEqual(["oncall@example.test", "owner@example.test"]);
    expect(failed.from).toBe("vault@example.test");
    expect(failed.headers.subject).toBe("Rotation failed: app/db");
    expect(failed.headers["x-priority"]).toMatch(/^1/);
    expect(failed.headers.importance?.toLowerCase()).toBe("high");
    expect(failed.body).toContain("app/db");
    expect(failed.body).toContain("secret policy sp_gone not found");
    expect(failed.body).toContain("What to do next:");
    expect(failed.body).toContain("https://vault.example.test/ui/secrets/app/db");
    expect(rotated.headers.subject).toBe("Secret rotated: app/db");
    expect(rotated.headers["x-priority"] ?? "3").toMatch(/^3/);
    expect(rotated.body).toContain("from version 1 to version 2");
    for (const m of smtp.mails) expect(m.raw).not.toContain(canary);

    const log = await v.rest("GET", "/v1/notification-channels/nc_oncall/deliveries", { token: admin });
    expect(log.body.data.map((a: any) => [a.event_type, a.state, a.status_code]).sort()).toEqual([
      ["rotation.completed", "delivered", 250],
      ["rotation.failed", "delivered", 250],
    ]);
  }, 60_000);

  it("posts to Slack with <!channel> on failure; the URL is write-only; attached policies' events arrive without a subscription", async () => {
    const policy = await v.rest("POST", "/v1/rotation/policies", { token: admin, body: { name: "monthly", interval: "30d" } });
    expect(policy.status).toBe(201);
    const created = await v.rest("POST", "/v1/notification-channels", {
      token: admin,
      body: { name: "slack-ops", type: "slack", config: { webhook_url: slack.url }, events: ["secret.created"], policy_ids: ["rot_monthly"] },
    });
    expect(created.status).toBe(201);
    expect(created.body.config).toEqual({ to: [], has_webhook_url: true });
    expect(JSON.stringify(created.body)).not.toContain(slack.url);
    expect(JSON.stringify((await v.rest("GET", "/v1/notification-channels/nc_slack-ops", { token: admin })).body)).not.toContain("127.0.0.1");

    await rotationFailed("app/api-key", { id: "rot_monthly", name: "monthly" });
    await rotationFailed("app/unattached"); // no policy: the Slack channel is not subscribed to rotation.failed
    await deliver();
    expect(slack.posts).toHaveLength(1);
    const { body } = slack.posts[0]!;
    expect(Object.keys(body)).toEqual(["text"]);
    expect(body.text.startsWith("<!channel> ")).toBe(true);
    expect(body.text).toContain("*Rotation failed: app/api-key*");
    expect(body.text).toContain("rotation policy monthly");
    expect(body.text).toContain("<https://vault.example.test/ui/secrets/app/api-key|Open in the ScaiVault console>");

    expect((await v.rest("PUT", "/v1/secrets/app/new", { token: admin, body: { data: { password: canary } } })).status).toBe(201);
    await deliver();
    expect(slack.posts).toHaveLength(2);
    expect(slack.posts[1]!.body.text).not.toContain("<!channel>");
    expect(slack.posts[1]!.body.text).toContain("app/new");
    expect(JSON.stringify(slack.posts)).not.toContain(canary);

    const test = await v.rest("POST", "/v1/notification-channels/nc_slack-ops/test", { token: admin });
    expect(test.status).toBe(200);
    expect(test.body.event_id).toMatch(/^evt_/);
    await deliver();
    expect(slack.posts[2]!.body.text).toContain("ScaiVault test message");
  }, 60_000);

  it("retries a channel that answers 500 with backoff and records each attempt, while other channels are delivered", async () => {
    const token = await v.token({ tenantId: "retry", scopes: ["admin"] });
    const flaky = await startSlackEndpoint();
    try {
      flaky.respond((n) => (n === 1 ? 500 : 200));
      expect((await v.rest("POST", "/v1/notification-channels", { token, body: { name: "flaky", type: "slack", config: { webhook_url: flaky.url }, events: ["secret.created"] } })).status).toBe(201);
      expect((await v.rest("POST", "/v1/notification-channels", { token, body: { name: "mail", type: "email", config: { to: ["retry@example.test"] }, events: ["secret.created"] } })).status).toBe(201);
      const mailsBefore = smtp.mails.length;
      expect((await v.rest("PUT", "/v1/secrets/svc/token", { token, body: { data: { password: canary } } })).status).toBe(201);

      expect(await deliver()).toMatchObject({ claimed: 2, delivered: 1, retrying: 1 });
      expect(smtp.mails.length).toBe(mailsBefore + 1); // the failing Slack channel did not hold the email back
      let log = await v.rest("GET", "/v1/notification-channels/nc_flaky/deliveries", { token });
      expect(log.body.data).toHaveLength(1);
      expect(log.body.data[0]).toMatchObject({ attempt: 1, state: "retrying", status_code: 500, error: "HTTP 500" });
      const nextRetry = Date.parse(log.body.data[0].next_retry_at);
      expect(nextRetry).toBeGreaterThan(clock.now().getTime());

      expect(await deliver()).toMatchObject({ claimed: 0 }); // not before the backoff
      clock.set(new Date(nextRetry));
      expect(await deliver()).toMatchObject({ claimed: 1, delivered: 1 });
      log = await v.rest("GET", "/v1/notification-channels/nc_flaky/deliveries", { token });
      expect(log.body.data.map((a: any) => [a.attempt, a.state, a.status_code])).toEqual([
        [2, "delivered", 200],
        [1, "retrying", 500],
      ]);
      expect(flaky.posts.map((p) => p.body.text)).toEqual([flaky.posts[0]!.body.text, flaky.posts[0]!.body.text]);
    } finally {
      await flaky.close();
    }
  }, 60_000);

  it("answers the contract's errors and serves gRPC like REST", async () => {
    const bad = async (body: unknown, code: string, status = 400) => {
      const res = await v.rest("POST", "/v1/notification-channels", { token: admin, body });
      expect([res.status, res.body.error?.code]).toEqual([status, code]);
      return res.body.error.message as string;
    };
    expect(await bad({ name: "x", type: "email", config: { to: [] } }, "invalid_request")).toContain("config.to");
    expect(await bad({ name: "x", type: "email", config: { to: ["not an address"] } }, "invalid_request")).toContain("config.to");
    expect(await bad({ name: "x", type: "pager", config: {} }, "invalid_request")).toContain("type");
    expect(await bad({ name: "x", type: "slack", config: {} }, "invalid_request")).toContain("webhook_url");
    expect(await bad({ name: "x", type: "slack", config: { webhook_url: "http://10.1.2.3/hook" } }, "invalid_request")).toContain("webhook_url");
    expect(await bad({ name: "x", type: "email", config: { to: ["a@example.test"] }, events: ["secret.exploded"] }, "invalid_request")).toContain("events");
    await bad({ name: "x", type: "email", config: { to: ["a@example.test"] }, policy_ids: ["rot_nope"] }, "rotation_policy_not_found", 404);
    await bad({ name: "oncall", type: "email", config: { to: ["a@example.test"] } }, "name_conflict", 409);
    const missing = await v.rest("GET", "/v1/notification-channels/nc_nope", { token: admin });
    expect([missing.status, missing.body.error.code]).toEqual([404, "notification_channel_not_found"]);
    const reader = await v.token({ tenantId: "acme", scopes: ["secrets:read"] });
    expect((await v.rest("GET", "/v1/notification-channels", { token: reader })).status).toBe(403);

    const patched = await v.rest("PATCH", "/v1/notification-channels/nc_oncall", { token: admin, body: { config: { to: ["new@example.test"] }, events: ["secret.expiring"], is_active: false } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ config: { to: ["new@example.test"] }, events: ["secret.expiring"], is_active: false });

    const client = grpcClient(v.port, "NotificationChannelService", "notifications.proto");
    try {
      const list = await unary(client, "ListNotificationChannels", {}, admin);
      expect(list.data.map((c: any) => c.id)).toEqual(["nc_oncall", "nc_slack-ops"]);
      const err = await unary(client, "GetNotificationChannel", { id: "nc_nope" }, admin).catch((e) => e);
      expect(reasonOf(err)).toBe("notification_channel_not_found");
      expect((await unary(client, "DeleteNotificationChannel", { id: "nc_oncall" }, admin)).deleted).toBe(true);
    } finally {
      client.close();
    }
  }, 60_000);
});
