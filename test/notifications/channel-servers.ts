// Real endpoints on 127.0.0.1 for notification tests: an SMTP server (smtp-server) and a Slack
// incoming-webhook stand-in that records JSON bodies and answers what the test tells it to.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

/** One email as the SMTP server received it. */
export interface ReceivedMail {
  from: string;
  rcptTo: string[];
  /** Header names lower-cased; unfolded values. */
  headers: Record<string, string>;
  body: string;
  raw: string;
}

export async function startSmtpServer(): Promise<{ url: string; mails: ReceivedMail[]; close(): Promise<void> }> {
  const mails: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        const cut = raw.indexOf("\r\n\r\n");
        const headerText = raw.slice(0, cut).replace(/\r\n[ \t]+/g, " ");
        const headers: Record<string, string> = {};
        for (const line of headerText.split("\r\n")) {
          const i = line.indexOf(":");
          if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
        }
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          headers,
          body: decodeBody(raw.slice(cut + 4), headers["content-transfer-encoding"]),
          raw,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { url: `smtp://127.0.0.1:${port}`, mails, close: () => new Promise<void>((r) => server.close(() => r())) };
}

function decodeBody(body: string, encoding: string | undefined): string {
  if (encoding?.toLowerCase() === "quoted-printable") {
    return body.replace(/=\r\n/g, "").replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  }
  if (encoding?.toLowerCase() === "base64") return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  return body;
}

/** A Slack incoming-webhook stand-in. */
export async function startSlackEndpoint(): Promise<{ url: string; posts: { path: string; body: any; status: number }[]; respond(status: (n: number) => number): void; close(): Promise<void> }> {
  const posts: { path: string; body: any; status: number }[] = [];
  let respond: (n: number) => number = () => 200;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const status = respond(posts.length + 1);
      posts.push({ path: req.url ?? "", body: JSON.parse(Buffer.concat(chunks).toString("utf8")), status });
      res.writeHead(status, { "content-type": "text/plain" }).end(status === 200 ? "ok" : "error");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/services/T000/B000/XXXX`,
    posts,
    respond: (fn) => (respond = fn),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
