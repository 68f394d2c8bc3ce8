import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A small IAM-compatible endpoint on loopback for the aws_iam provider tests: the Query protocol
 * (form-encoded POST, XML answers) for the access-key actions and GetUser, with every request's
 * SigV4 signature checked against the keys it issued. Like IAM it keeps at most two keys per user
 * and refuses inactive and deleted keys; `propagationDelayCalls` makes a new key be refused for its
 * first N signed calls, as IAM's eventual consistency does.
 */

const xmlns = "https://iam.amazonaws.com/doc/2010-05-08/";

interface StoredKey {
  id: string;
  secret: string;
  userName: string;
  status: "Active" | "Inactive";
  createDate: Date;
  /** Signed calls still to refuse before the key "propagates". */
  refusalsLeft: number;
}

export interface FakeIamRequest {
  action: string;
  accessKeyId: string;
  region: string;
  params: Record<string, string>;
}

export interface FakeIam {
  url: string;
  /** Creates a user (if missing) and gives it a new active key, bypassing the API. */
  seedKey(userName: string): { accessKeyId: string; secretAccessKey: string };
  /** The user's keys as IAM would list them. */
  keysOf(userName: string): Array<{ accessKeyId: string; status: string }>;
  /** Every request that passed signature checks, in order. */
  requests: FakeIamRequest[];
  /** Requests refused at authentication, with the reason code. */
  refusals: Array<{ accessKeyId: string; code: string }>;
  /** A new key created through the API is refused this many times before it works. */
  propagationDelayCalls: number;
  /** Users without iam:GetUser: their signed GetUser calls answer AccessDenied, as IAM's policy check would. */
  usersWithoutGetUser: Set<string>;
  /** Called once a successful answer to `action` has been handed to the network (a test can kill its caller then). */
  onAnswered: ((action: string) => void) | undefined;
  close(): Promise<void>;
}

/** Starts the fake IAM endpoint on 127.0.0.1 on a free port. */
export async function startFakeIam(): Promise<FakeIam> {
  const keys = new Map<string, StoredKey>();
  const users = new Set<string>();
  const requests: FakeIamRequest[] = [];
  const refusals: FakeIam["refusals"] = [];
  const state: { propagationDelayCalls: number; onAnswered: FakeIam["onAnswered"] } = { propagationDelayCalls: 0, onAnswered: undefined };
  const usersWithoutGetUser = new Set<string>();

  const newKey = (userName: string, refusals: number): StoredKey => {
    const key: StoredKey = {
      id: "AKIA" + randomBytes(8).toString("hex").toUpperCase(),
      secret: randomBytes(30).toString("base64"),
      userName,
      status: "Active",
      createDate: new Date(),
      refusalsLeft: refusals,
    };
    keys.set(key.id, key);
    return key;
  };
  const keysOfUser = (userName: string) => [...keys.values()].filter((k) => k.userName === userName);

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const send = (status: number, xml: string) => {
        res.writeHead(status, { "content-type": "text/xml", "x-amzn-requestid": requestId() });
        res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${xml}`);
      };
      const fail = (status: number, code: string, message: string) =>
        send(status, `<ErrorResponse xmlns="${xmlns}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error><RequestId>${requestId()}</RequestId></ErrorResponse>`);

      const auth = verifySignature(req, body, (id) => keys.get(id));
      if (!auth.ok) {
        refusals.push({ accessKeyId: auth.accessKeyId ?? "", code: auth.code });
        return fail(403, auth.code, auth.message);
      }
      const caller = auth.key;
      if (caller.refusalsLeft > 0) {
        caller.refusalsLeft -= 1;
        refusals.push({ accessKeyId: caller.id, code: "InvalidClientTokenId" });
        return fail(403, "InvalidClientTokenId", "The security token included in the request is invalid.");
      }
      const params = Object.fromEntries(new URLSearchParams(body.toString("utf8")));
      const action = params.Action ?? "";
      requests.push({ action, accessKeyId: caller.id, region: auth.region, params });
      const userName = params.UserName ?? caller.userName;
      const wrap = (inner: string) => {
        res.once("finish", () => state.onAnswered?.(action));
        send(200, `<${action}Response xmlns="${xmlns}">${inner}<ResponseMetadata><RequestId>${requestId()}</RequestId></ResponseMetadata></${action}Response>`);
      };

      switch (action) {
        case "GetUser":
          if (usersWithoutGetUser.has(caller.userName)) {
            return fail(403, "AccessDenied", `User ${caller.userName} is not authorized to perform: iam:GetUser`);
          }
          if (!users.has(userName)) return fail(404, "NoSuchEntity", `The user with name ${userName} cannot be found.`);
          return wrap(`<GetUserResult><User><UserName>${userName}</UserName><UserId>AIDA${userName.length}</UserId><Arn>arn:aws:iam::123456789012:user/${userName}</Arn><Path>/</Path><CreateDate>2026-01-01T00:00:00Z</CreateDate></User></GetUserResult>`);
        case "ListAccessKeys": {
          if (!users.has(userName)) return fail(404, "NoSuchEntity", `The user with name ${userName} cannot be found.`);
          const members = keysOfUser(userName)
            .map((k) => `<member><UserName>${k.userName}</UserName><AccessKeyId>${k.id}</AccessKeyId><Status>${k.status}</Status><CreateDate>${k.createDate.toISOString()}</CreateDate></member>`)
            .join("");
          return wrap(`<ListAccessKeysResult><AccessKeyMetadata>${members}</AccessKeyMetadata><IsTruncated>false</IsTruncated></ListAccessKeysResult>`);
        }
        case "CreateAccessKey": {
          if (!users.has(userName)) return fail(404, "NoSuchEntity", `The user with name ${userName} cannot be found.`);
          if (keysOfUser(userName).length >= 2) return fail(409, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2");
          const k = newKey(userName, state.propagationDelayCalls);
          return wrap(`<CreateAccessKeyResult><AccessKey><UserName>${userName}</UserName><AccessKeyId>${k.id}</AccessKeyId><Status>Active</Status><SecretAccessKey>${k.secret}</SecretAccessKey><CreateDate>${k.createDate.toISOString()}</CreateDate></AccessKey></CreateAccessKeyResult>`);
        }
        case "UpdateAccessKey": {
          const k = keys.get(params.AccessKeyId ?? "");
          if (!k || k.userName !== userName) return fail(404, "NoSuchEntity", `The Access Key with id ${params.AccessKeyId} cannot be found.`);
          if (params.Status !== "Active" && params.Status !== "Inactive") return fail(400, "ValidationError", "Status must be Active or Inactive");
          k.status = params.Status;
          return wrap("");
        }
        case "DeleteAccessKey": {
          const k = keys.get(params.AccessKeyId ?? "");
          if (!k || k.userName !== userName) return fail(404, "NoSuchEntity", `The Access Key with id ${params.AccessKeyId} cannot be found.`);
          keys.delete(k.id);
          return wrap("");
        }
        default:
          return fail(400, "InvalidAction", `Could not find operation ${action}`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    seedKey(userName) {
      users.add(userName);
      const k = newKey(userName, 0);
      return { accessKeyId: k.id, secretAccessKey: k.secret };
    },
    keysOf: (userName) => keysOfUser(userName).map((k) => ({ accessKeyId: k.id, status: k.status })),
    requests,
    refusals,
    usersWithoutGetUser,
    get propagationDelayCalls() {
      return state.propagationDelayCalls;
    },
    set propagationDelayCalls(n: number) {
      state.propagationDelayCalls = n;
    },
    get onAnswered() {
      return state.onAnswered;
    },
    set onAnswered(hook: FakeIam["onAnswered"]) {
      state.onAnswered = hook;
    },
    close: () => new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve()))),
  };
}

type AuthResult =
  | { ok: true; key: StoredKey; region: string }
  | { ok: false; code: string; message: string; accessKeyId?: string };

/** Checks an AWS Signature Version 4 Authorization header, as IAM does, against the issued keys. */
function verifySignature(req: IncomingMessage, body: Buffer, lookup: (id: string) => StoredKey | undefined): AuthResult {
  const header = req.headers.authorization ?? "";
  const match = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(header);
  if (!match) return { ok: false, code: "MissingAuthenticationToken", message: "Request is missing a valid SigV4 Authorization header" };
  const [, accessKeyId, date, region, service, signedHeaders, signature] = match as unknown as [string, string, string, string, string, string, string];
  const key = lookup(accessKeyId);
  if (!key || key.status !== "Active") {
    return { ok: false, code: "InvalidClientTokenId", message: "The security token included in the request is invalid.", accessKeyId };
  }
  if (service !== "iam") return { ok: false, code: "SignatureDoesNotMatch", message: "Credential should be scoped to correct service: 'iam'.", accessKeyId };
  const amzDate = String(req.headers["x-amz-date"] ?? "");
  if (!amzDate.startsWith(date)) return { ok: false, code: "SignatureDoesNotMatch", message: "Date in Credential scope does not match X-Amz-Date", accessKeyId };
  const headerNames = signedHeaders.split(";");
  if (!headerNames.includes("host") || !headerNames.includes("x-amz-date")) {
    return { ok: false, code: "SignatureDoesNotMatch", message: "host and x-amz-date must be signed", accessKeyId };
  }
  const url = new URL(req.url ?? "/", "http://placeholder");
  const canonicalQuery = [...url.searchParams.entries()]
    .map(([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)] as const)
    .sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : 1) : a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const canonicalHeaders = headerNames
    .map((name) => {
      const raw = req.headers[name];
      const value = Array.isArray(raw) ? raw.join(",") : (raw ?? "");
      return `${name}:${value.trim().replace(/\s+/g, " ")}\n`;
    })
    .join("");
  const payloadHash = sha256Hex(body);
  const claimedPayloadHash = req.headers["x-amz-content-sha256"];
  if (typeof claimedPayloadHash === "string" && claimedPayloadHash !== payloadHash) {
    return { ok: false, code: "SignatureDoesNotMatch", message: "payload hash does not match the body", accessKeyId };
  }
  const canonicalRequest = [req.method, url.pathname || "/", canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].join("\n");
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(Buffer.from(canonicalRequest))].join("\n");
  let signingKey: Buffer = hmac(Buffer.from("AWS4" + key.secret), date);
  for (const part of [region, service, "aws4_request"]) signingKey = hmac(signingKey, part);
  const expected = hmac(signingKey, stringToSign);
  const given = Buffer.from(signature, "hex");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, code: "SignatureDoesNotMatch", message: "The request signature we calculated does not match the signature you provided.", accessKeyId };
  }
  return { ok: true, key, region };
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac("sha256", key).update(data, "utf8").digest();
}

function sha256Hex(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);
}

function requestId(): string {
  return randomBytes(16).toString("hex");
}
