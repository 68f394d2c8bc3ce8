import type { IAMClient } from "@aws-sdk/client-iam";
import { ScaiVaultError } from "../../errors.js";
import type { AllowList } from "../../outbound/ssrf-guard.js";
import { createGuardedAgents, refuseGuardedHost } from "../../outbound/guarded-http.js";
import type { CredentialData, ProviderCall, RotationProvider, StepOutcome } from "./provider.js";
import { failed, passed, type PreflightCheck } from "./preflight.js";
import { abortableSleep, optionalString, requireObject, requireString, type Sleep } from "./provider-support.js";

/** What the aws_iam provider needs besides the call: how to wait and for how long IAM may lag. */
export interface AwsIamProviderDeps {
  /** The webhooks' allow-list (SCAIVAULT_WEBHOOK_ALLOW_HOSTS): `config.endpoint` passes the same SSRF guard. */
  allow: AllowList;
  /** Waits between propagation tries (default: a timer); tests pass one that advances their clock. */
  sleep?: Sleep;
  /** How long `test` keeps retrying a key IAM does not accept yet, on the call's clock (default 60 s). */
  propagationTimeoutMs?: number;
  /** First wait between tries (default 1 s), doubled after each try up to `maxBackoffMs` (default 8 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** The SDK's own attempts per call (default 3), for throttling and 5xx answers. */
  maxAttempts?: number;
}

interface AwsIamConfig {
  iamUserName: string;
  region: string;
  endpoint: string | undefined;
}

interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
}

/** The AWS SDK (about 30 MiB once loaded) is loaded when the first aws_iam step runs, not at start. */
const loadIamSdk = () => import("@aws-sdk/client-iam"); // the module cache keeps it after the first step

const userNamePattern = /^[\w+=,.@-]{1,64}$/;
/** IAM's answer when a key is valid but lacks the permission: the key itself was accepted. */
const accessDeniedNames = new Set(["AccessDenied", "AccessDeniedException"]);
const notFoundNames = new Set(["NoSuchEntity", "NoSuchEntityException"]);
/** IAM's answers when it does not accept the signing key at all. */
const rejectedKeyNames = new Set(["InvalidClientTokenId", "SignatureDoesNotMatch", "IncompleteSignature", "InvalidAccessKeyId", "UnrecognizedClientException", "ExpiredToken", "AuthFailure"]);

/** The `aws_iam` provider: creates the IAM user's next access key, proves it signs, then deactivates and deletes the old one. */
export function createAwsIamProvider(deps: AwsIamProviderDeps): RotationProvider {
  const sleep = deps.sleep ?? abortableSleep;
  const propagationTimeoutMs = deps.propagationTimeoutMs ?? 60_000;
  const initialBackoffMs = deps.initialBackoffMs ?? 1_000;
  const maxBackoffMs = deps.maxBackoffMs ?? 8_000;
  const maxAttempts = deps.maxAttempts ?? 3;
  const agents = createGuardedAgents(deps.allow);
  const parseConfig = (config: Record<string, unknown>) => parseIamConfig(config, deps.allow);

  const clientFor = async (config: AwsIamConfig, key: AccessKey) =>
    new (await loadIamSdk()).IAMClient({
      region: config.region,
      endpoint: config.endpoint,
      maxAttempts,
      credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
      // Every address the endpoint resolves to passes the SSRF guard, at each connection.
      requestHandler: { httpAgent: agents.http, httpsAgent: agents.https },
    });

  /** The rotation identity when one was configured, else the secret's own current key. */
  const identityOf = (call: ProviderCall): AccessKey => {
    if (call.credentials) return parseAccessKey(call.credentials, "credentials");
    if (!call.current) {
      throw new ScaiVaultError("invalid_request", "aws_iam without credentials needs the secret's current version to hold access_key_id and secret_access_key");
    }
    return parseAccessKey(call.current, "the current version");
  };

  const withClient = async <T>(call: ProviderCall, key: AccessKey, use: (iam: IAMClient, config: AwsIamConfig) => Promise<T>): Promise<T> => {
    const config = parseConfig(call.config);
    const iam = await clientFor(config, key);
    try {
      return await use(iam, config);
    } finally {
      iam.destroy();
    }
  };

  /** Deactivates then deletes a key; a key IAM no longer has counts as done, so a repeated step is harmless. */
  const deactivateAndDelete = async (iam: IAMClient, config: AwsIamConfig, accessKeyId: string, signal: AbortSignal): Promise<string> => {
    try {
      await iam.send(new (await loadIamSdk()).UpdateAccessKeyCommand({ UserName: config.iamUserName, AccessKeyId: accessKeyId, Status: "Inactive" }), { abortSignal: signal });
    } catch (err) {
      if (notFoundNames.has(errorName(err))) return "UpdateAccessKey NoSuchEntity (already deleted)";
      throw iamFailure("UpdateAccessKey", err);
    }
    await deleteKey(iam, config, accessKeyId, signal);
    return "UpdateAccessKey Inactive 200, DeleteAccessKey 200";
  };

  return {
    name: "aws_iam",

    validate(config, credentials) {
      parseConfig(config);
      if (credentials !== undefined) parseAccessKey(credentials, "credentials");
    },

    async create(call) {
      const identity = identityOf(call);
      const currentId = call.current ? optionalString(call.current, "access_key_id", "the current version") : undefined;
      return withClient(call, identity, async (iam, config) => {
        const signal = call.signal;
        let listed;
        try {
          listed = await iam.send(new (await loadIamSdk()).ListAccessKeysCommand({ UserName: config.iamUserName }), { abortSignal: signal });
        } catch (err) {
          throw iamFailure("ListAccessKeys", err);
        }
        const existing = (listed.AccessKeyMetadata ?? []).map((k) => k.AccessKeyId ?? "");
        const steps: string[] = ["ListAccessKeys 200"];
        if (existing.length >= 2) {
          // IAM allows two keys per user: the one that is not the current version's is left over
          // from a run that crashed after CreateAccessKey, and nothing reads it.
          const orphans = existing.filter((id) => id !== currentId);
          if (!currentId || orphans.length !== 1) {
            throw new ScaiVaultError(
              "invalid_request",
              `IAM user ${config.iamUserName} already has two access keys and neither is the current version's; delete the unused one at IAM first`,
            );
          }
          await deleteKey(iam, config, orphans[0]!, signal);
          steps.push("DeleteAccessKey (orphan) 200");
        }
        let created;
        try {
          created = await iam.send(new (await loadIamSdk()).CreateAccessKeyCommand({ UserName: config.iamUserName }), { abortSignal: signal });
        } catch (err) {
          throw iamFailure("CreateAccessKey", err);
        }
        const accessKeyId = created.AccessKey?.AccessKeyId;
        const secretAccessKey = created.AccessKey?.SecretAccessKey;
        if (!accessKeyId || !secretAccessKey) throw new ScaiVaultError("unavailable", "IAM CreateAccessKey answered without a key");
        steps.push("CreateAccessKey 200");
        return { data: { access_key_id: accessKeyId, secret_access_key: secretAccessKey }, summary: steps.join(", ") };
      });
    },

    async test(call, issued) {
      const key = parseAccessKey(issued, "the issued key");
      return withClient(call, key, async (iam) => {
        const deadline = call.clock.now().getTime() + propagationTimeoutMs;
        let wait = initialBackoffMs;
        let lastErrorName = "";
        let lastError: unknown;
        for (let tries = 1; ; tries++) {
          try {
            await iam.send(new (await loadIamSdk()).GetUserCommand({}), { abortSignal: call.signal });
            return { summary: `GetUser signed with the new key 200 (try ${tries})` };
          } catch (err) {
            // AccessDenied comes after authentication: IAM knows the key, it only lacks iam:GetUser.
            if (accessDeniedNames.has(errorName(err))) return { summary: `GetUser signed with the new key: AccessDenied, key accepted (try ${tries})` };
            if (call.signal.aborted) throw err;
            lastErrorName = errorName(err);
            lastError = err;
          }
          const left = deadline - call.clock.now().getTime();
          if (left <= 0) break;
          await sleep(Math.min(wait, left), call.signal);
          wait = Math.min(wait * 2, maxBackoffMs);
        }
        throw new ScaiVaultError(
          "unavailable",
          `IAM did not accept the new access key within ${Math.round(propagationTimeoutMs / 1000)}s (${lastErrorName})`,
          { cause: lastError },
        );
      });
    },

    async preflight(call) {
      const identity = identityOf(call);
      const who = call.credentials ? "the rotation identity's key (credentials)" : "the current version's key";
      return withClient(call, identity, async (iam, config) => {
        try {
          const listed = await iam.send(new (await loadIamSdk()).ListAccessKeysCommand({ UserName: config.iamUserName }), { abortSignal: call.signal });
          const inUse = listed.AccessKeyMetadata?.length ?? 0;
          return [
            passed("reachable", `IAM answered ListAccessKeys`),
            passed("credentials", `${who} was accepted and may list the access keys of ${config.iamUserName} (${inUse} of 2 in use)`),
          ];
        } catch (err) {
          if (call.signal.aborted) throw err;
          return iamPreflightFailure(err, who, config);
        }
      });
    },

    async revoke(call, old): Promise<StepOutcome> {
      const oldKey = parseAccessKey(old, "the old version");
      refuseCurrent(call, oldKey.accessKeyId, "revoke");
      const summary = await withClient(call, identityOf(call), (iam, config) => deactivateAndDelete(iam, config, oldKey.accessKeyId, call.signal));
      return { summary };
    },

    async discard(call, issued): Promise<StepOutcome> {
      const issuedKey = parseAccessKey(issued, "the issued key");
      refuseCurrent(call, issuedKey.accessKeyId, "discard");
      const summary = await withClient(call, identityOf(call), (iam, config) => deactivateAndDelete(iam, config, issuedKey.accessKeyId, call.signal));
      return { summary };
    },
  };
}

async function deleteKey(iam: IAMClient, config: AwsIamConfig, accessKeyId: string, signal: AbortSignal): Promise<void> {
  try {
    await iam.send(new (await loadIamSdk()).DeleteAccessKeyCommand({ UserName: config.iamUserName, AccessKeyId: accessKeyId }), { abortSignal: signal });
  } catch (err) {
    if (notFoundNames.has(errorName(err))) return;
    throw iamFailure("DeleteAccessKey", err);
  }
}

/** Never revoke under doubt: the key consumers are told to use is never deleted by a step. */
function refuseCurrent(call: ProviderCall, accessKeyId: string, step: string): void {
  const currentId = call.current?.access_key_id;
  if (currentId === accessKeyId) {
    throw new ScaiVaultError("invalid_request", `aws_iam refuses to ${step} the current version's access key`);
  }
}

function parseIamConfig(config: Record<string, unknown>, allow: AllowList): AwsIamConfig {
  requireObject(config, "config");
  const iamUserName = requireString(config, "iam_user_name", "config");
  if (!userNamePattern.test(iamUserName)) {
    throw new ScaiVaultError("invalid_request", "config.iam_user_name must be an IAM user name (1-64 of letters, digits and +=,.@_-)");
  }
  const region = requireString(config, "region", "config");
  if (!/^[a-z0-9-]{2,32}$/.test(region)) throw new ScaiVaultError("invalid_request", "config.region must be an AWS region such as us-east-1");
  const endpoint = optionalString(config, "endpoint", "config");
  if (endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new ScaiVaultError("invalid_request", "config.endpoint must be an http(s) URL");
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new ScaiVaultError("invalid_request", "config.endpoint must be an http(s) URL");
    refuseGuardedHost(url.hostname, allow, "config.endpoint");
  }
  return { iamUserName, region, endpoint };
}

function parseAccessKey(data: CredentialData, where: string): AccessKey {
  requireObject(data, where);
  return {
    accessKeyId: requireString(data, "access_key_id", where),
    secretAccessKey: requireString(data, "secret_access_key", where),
  };
}

function errorName(err: unknown): string {
  if (err && typeof err === "object") {
    const named = err as { name?: unknown; Code?: unknown };
    if (typeof named.Code === "string") return named.Code;
    if (typeof named.name === "string") return named.name;
  }
  return "error";
}

/** Why ListAccessKeys failed, as the checks it decides: no answer, the key refused, the user missing. */
function iamPreflightFailure(err: unknown, who: string, config: AwsIamConfig): PreflightCheck[] {
  const status = (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  const name = errorName(err);
  const where = config.endpoint ?? `IAM (${config.region})`;
  if (status === undefined) {
    const code = (err as { code?: unknown })?.code;
    return [failed("reachable", `${where} did not answer ListAccessKeys: ${typeof code === "string" ? code : name}`)];
  }
  if (status >= 500 || name === "Throttling" || name === "ThrottlingException") return [failed("reachable", `IAM answered ListAccessKeys with ${name} (${status})`)];
  const reachable = passed("reachable", `IAM answered ListAccessKeys (${status})`);
  if (rejectedKeyNames.has(name)) return [reachable, failed("credentials", `IAM refused ${who}: ${name} (${status})`)];
  if (accessDeniedNames.has(name)) {
    return [reachable, failed("credentials", `${who} was accepted but may not list the access keys of ${config.iamUserName} (${name}); rotation needs iam:ListAccessKeys, CreateAccessKey, UpdateAccessKey and DeleteAccessKey on that user`)];
  }
  if (notFoundNames.has(name)) return [reachable, passed("credentials", `${who} was accepted`), failed("config", `IAM user ${config.iamUserName} does not exist (${name})`)];
  return [reachable, failed("credentials", `IAM refused ListAccessKeys: ${name} (${status})`)];
}

/** An IAM failure as a safe step error: the action and IAM's error code, never a key. */
function iamFailure(action: string, err: unknown): ScaiVaultError {
  const status = (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  return new ScaiVaultError("unavailable", `IAM ${action} failed: ${errorName(err)}${status ? ` (${status})` : ""}`, { cause: err });
}
