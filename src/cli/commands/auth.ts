import { createScaiVaultClient, isScaiVaultError } from "../../../clients/typescript/src/index.js";
import { loadConfig } from "../../config.js";
import { parseDuration } from "../../duration.js";
import { resolveTokenKeys } from "../../auth/dev-keys.js";
import { mintToken } from "../../auth/mint-token.js";
import { UsageError, type CommandSpec } from "../cli.js";
import { isProtocol, readConfig, writeConfig } from "../config-file.js";
import { readInput, stringOption } from "../input.js";

/** `scaivault login`: saves the URL and a token for the other commands. */
export const loginCommand: CommandSpec = {
  name: "login",
  summary: "Save the service URL and a token (read from standard input) for the other commands",
  options: {
    "token-file": { type: "string", value: "PATH", description: "Read the token from this file instead of standard input" },
    "no-verify": { type: "boolean", description: "Save without checking the token against the service" },
  },
  details:
    "The settings file is SCAIVAULT_CONFIG, else ~/.config/scaivault/config.json, written with mode 0600.\n" +
    "SCAIVAULT_URL, SCAIVAULT_TOKEN and SCAIVAULT_PROTOCOL override it.\n" +
    "  scaivault token --tenant acme | scaivault login --url http://localhost:8080",
  async run(ctx) {
    const url = stringOption(ctx, "url");
    if (!url) throw new UsageError("--url URL is required");
    try {
      new URL(url);
    } catch {
      throw new UsageError(`--url "${url}" is not a URL`);
    }
    const token = (await readInput(ctx, stringOption(ctx, "token-file") ?? "-")).toString("utf8").trim();
    if (!token) throw new UsageError("no token on standard input");
    const protocol = stringOption(ctx, "protocol");
    if (protocol !== undefined && !isProtocol(protocol)) throw new UsageError("--protocol must be connect, grpc or grpc-web");
    const saved = { ...(await readConfig(ctx.configPath)), url, token, ...(protocol ? { protocol } : {}) };

    if (ctx.opts["no-verify"] !== true) {
      // Any answer but an error proves URL and token good; `access_denied` too (it may lack secrets:read).
      const client = createScaiVaultClient({ baseUrl: url, token, protocol: saved.protocol, timeoutMs: 10_000 });
      try {
        await client.secrets.listSecrets({ limit: 1 });
      } catch (err) {
        if (!isScaiVaultError(err, "access_denied")) throw err;
      } finally {
        client.close();
      }
    }
    await writeConfig(ctx.configPath, saved);
    if (ctx.json) return ctx.printJson({ url, config: ctx.configPath });
    ctx.print(`logged in to ${url} (settings in ${ctx.configPath})`);
  },
};

/** `scaivault token`: a development token signed with the embedded default's secret, like `npm run token`. */
export const tokenCommand: CommandSpec = {
  name: "token",
  summary: "Print a development token (signed with SCAIVAULT_JWT_SECRET or the data directory's generated secret)",
  options: {
    tenant: { type: "string", value: "ID", description: "tenant_id claim (default: default)" },
    scope: { type: "string", value: "SCOPES", description: 'Scopes, space or comma separated (default: "admin audit:read")' },
    sub: { type: "string", value: "NAME", description: "The actor (default: dev)" },
    partner: { type: "string", value: "ID", description: "partner_id claim" },
    "partner-admin": { type: "boolean", description: "Add the partner_admin role" },
    ttl: { type: "string", value: "DURATION", description: "Lifetime (default 1h)" },
    "data-dir": { type: "string", value: "DIR", description: "The server's data directory (default: SCAIVAULT_DATA_DIR or ./data)" },
  },
  details: "Runs where the server's data directory (or SCAIVAULT_JWT_SECRET) is: it is for development setups.",
  async run(ctx) {
    const env = { ...ctx.io.env, ...(ctx.opts["data-dir"] ? { SCAIVAULT_DATA_DIR: stringOption(ctx, "data-dir") } : {}) };
    const config = loadConfig(env);
    const keys = await resolveTokenKeys(config, false).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") throw new UsageError(`no development secret in ${config.dataDir}: start the server once, or set SCAIVAULT_JWT_SECRET`);
      throw err;
    });
    if (!keys.secret) throw new UsageError("tokens can only be minted with an HS256 secret (SCAIVAULT_JWT_SECRET or the embedded default)");
    const token = await mintToken(keys.secret, {
      tenantId: stringOption(ctx, "tenant") ?? "default",
      scopes: (stringOption(ctx, "scope") ?? "admin audit:read").split(/[\s,]+/).filter(Boolean),
      sub: stringOption(ctx, "sub") ?? "dev",
      partnerId: stringOption(ctx, "partner"),
      partnerAdmin: ctx.opts["partner-admin"] === true,
      ttlSeconds: parseDuration(stringOption(ctx, "ttl") ?? "1h"),
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
    });
    if (ctx.json) return ctx.printJson({ token });
    ctx.print(token);
  },
};
