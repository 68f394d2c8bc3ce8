// What people read: one pure function from an outbox event to a message — what happened, which
// secret (its path, never a value), when, what to do next, and a console link when the public
// URL is known. Failures are urgent.
import type { WebhookEnvelope } from "../outbound/event-envelope.js";

/** A message for people, before it is shaped for email or Slack. */
export interface NotificationMessage {
  /** One line: email subject, Slack headline. A failure's starts with the failure. */
  title: string;
  /** What happened and when. */
  happened: string;
  /** What to do next. */
  next: string;
  /** A console page, when SCAIVAULT_PUBLIC_URL is set. */
  link?: string;
  urgent: boolean;
}

/** The message of an event; `publicUrl` is the console's base URL (no trailing slash). */
export function messageOf(event: WebhookEnvelope, publicUrl?: string): NotificationMessage {
  const d = event.data;
  const path = event.path ?? "";
  const when = event.created_at;
  const policy = typeof d.policy_name === "string" ? ` (rotation policy ${d.policy_name})` : "";
  const link = publicUrl && path ? `${publicUrl}/ui/secrets/${path.split("/").map(encodeURIComponent).join("/")}` : publicUrl ? `${publicUrl}/ui/` : undefined;
  switch (event.event_type) {
    case "rotation.failed": {
      const retry =
        d.will_retry === true && typeof d.next_attempt_at === "string"
          ? `ScaiVault tries again at ${d.next_attempt_at} (that was attempt ${d.attempt}).`
          : "ScaiVault will not try again before the next scheduled rotation.";
      return {
        title: `Rotation failed: ${path}`,
        // A provider run says where it left the secret (what is current, what is still valid); a policy rotation changed nothing.
        happened: `Rotating ${path}${policy} failed at ${when}: ${String(d.error ?? "unknown error")}. ${typeof d.situation === "string" ? d.situation : "The current version is unchanged and still in use."} ${retry}`,
        next:
          Array.isArray(d.ways_out) && d.ways_out.length > 0
            ? `Fix the cause, then get out with one of: ${(d.ways_out as string[]).map((w) => `\`scaivault rotation ${w} ${path}\``).join(", ")} (POST /v1/rotation/secrets/${path}/{${(d.ways_out as string[]).join(",")}}).`
            : `Fix the cause (the rotation or value-generation policy named in the error), then rotate by hand: \`scaivault secrets rotate ${path}\` or POST /v1/secrets/${path}/rotate.`,
        link,
        urgent: true,
      };
    }
    case "rotation.completed":
      return {
        title: `Secret rotated: ${path}`,
        happened: `${path} was rotated from version ${d.old_version} to version ${d.new_version}${policy} at ${when} by ${String(d.rotated_by ?? "ScaiVault")}.`,
        next: `Services reading ${path} get version ${d.new_version} on their next read; those that cache it should reload now (watch streams tell them at once). The previous version stays readable only for the grace period.`,
        link,
        urgent: false,
      };
    case "rotation.due":
      if (d.due_now === true) {
        return {
          title: `Rotation due now: ${path}`,
          happened: `${path} is due for rotation since ${String(d.next_rotation_at)}${policy}; ScaiVault does not generate its value, so it waits for a new version.`,
          next: `Write the new value: \`scaivault secrets put ${path} ...\` or PUT /v1/secrets/${path}. The rotation completes when the next version is written.`,
          link,
          urgent: false,
        };
      }
      return {
        title: `Rotation in ${String(d.warn_before ?? "a while")}: ${path}`,
        happened: `${path} will be due for rotation at ${String(d.next_rotation_at)}${policy}.`,
        next: `Make sure whoever or whatever rotates ${path} is ready, and that its consumers reload rotated secrets within the grace period.`,
        link,
        urgent: false,
      };
    case "secret.expiring": {
      const days = typeof d.days_remaining === "number" ? d.days_remaining : undefined;
      const left = days === undefined ? "soon" : days === 1 ? "within a day" : `in ${days} days`;
      return {
        title: `Secret expires ${left}: ${path}`,
        happened: `${path} expires at ${String(d.expires_at ?? "soon")}. After that, reads of it fail with secret_expired.`,
        next: `Write a new version with a later expiry, or remove the consumers that still read ${path}.`,
        link,
        urgent: false,
      };
    }
    case "ping":
      return {
        title: "ScaiVault test message",
        happened: `This is a test of notification channel ${String(d.channel_id ?? "")}, sent at ${when}.`,
        next: "Nothing to do: the channel works.",
        link: publicUrl ? `${publicUrl}/ui/` : undefined,
        urgent: false,
      };
    default: {
      const verb = event.event_type.replace(/^secret\./, "");
      const version = typeof d.version === "number" ? ` (version ${d.version})` : "";
      return {
        title: `Secret ${verb}: ${path}`,
        happened: `${path}${version} was ${verb} at ${when}.`,
        next: "Nothing to do unless you did not expect this change: then check the audit log (GET /v1/audit/events).",
        link,
        urgent: false,
      };
    }
  }
}

/** The plain-text body of an email. */
export function emailTextOf(m: NotificationMessage, tenantId: string): string {
  return [m.happened, "", `What to do next: ${m.next}`, ...(m.link ? ["", m.link] : []), "", `— ScaiVault, tenant ${tenantId}`].join("\n");
}

/** The JSON body a Slack incoming webhook takes; `<!channel>` calls everyone on a failure. */
export function slackPayloadOf(m: NotificationMessage): { text: string } {
  const headline = `${m.urgent ? "<!channel> :rotating_light: " : ""}*${escapeSlack(m.title)}*`;
  const lines = [headline, escapeSlack(m.happened), `*What to do next:* ${escapeSlack(m.next)}`];
  if (m.link) lines.push(`<${m.link}|Open in the ScaiVault console>`);
  return { text: lines.join("\n") };
}

/** Slack's three control characters in message text. */
function escapeSlack(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
