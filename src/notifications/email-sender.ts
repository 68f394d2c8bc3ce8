// One email per attempt through nodemailer's SMTP transport (TLS, auth, SMTP replies handled by a
// well-kept library rather than our own SMTP client).
import type { Transporter } from "nodemailer";
import { performance } from "node:perf_hooks";

export interface EmailMessage {
  to: string[];
  subject: string;
  text: string;
  /** High priority: X-Priority 1, Importance: high. */
  urgent: boolean;
}

/** What one attempt got: the SMTP reply code, or an error text; and how long it took. */
export interface EmailResult {
  statusCode?: number;
  error?: string;
  latencyMs: number;
}

export interface EmailSender {
  send(message: EmailMessage): Promise<EmailResult>;
  close(): void;
}

/** Creates the sender for SCAIVAULT_SMTP_URL; without one every attempt fails with a message saying so. */
export function createEmailSender(options: { smtpUrl?: string; from: string; timeoutMs: number }): EmailSender {
  // nodemailer (about 18 MiB once loaded) is loaded with the first email, not at start.
  let transport: Promise<Transporter> | undefined;
  const transportOf = (smtpUrl: string) =>
    (transport ??= import("nodemailer").then(({ default: nodemailer }) =>
      nodemailer.createTransport(smtpUrl, {
        connectionTimeout: options.timeoutMs,
        greetingTimeout: options.timeoutMs,
        socketTimeout: options.timeoutMs,
      } as never),
    ));
  return {
    async send(message) {
      const started = performance.now();
      const elapsed = () => Math.round(performance.now() - started);
      if (!options.smtpUrl) return { error: "SCAIVAULT_SMTP_URL is not set", latencyMs: 0 };
      try {
        const info = await (await transportOf(options.smtpUrl)).sendMail({
          from: options.from,
          to: message.to,
          subject: message.subject,
          text: message.text,
          priority: message.urgent ? "high" : "normal",
        });
        const code = Number(/^(\d{3})/.exec(String(info.response ?? ""))?.[1]);
        return { statusCode: Number.isInteger(code) ? code : undefined, latencyMs: elapsed() };
      } catch (err) {
        const e = err as { responseCode?: number; message?: string; code?: string };
        // nodemailer's messages carry the SMTP reply, never the message body.
        return { statusCode: e.responseCode, error: e.message || e.code || "sending failed", latencyMs: elapsed() };
      }
    },
    close: () => void transport?.then((t) => t.close(), () => {}),
  };
}
