import { parseArgs } from "node:util";
import { loadConfig } from "../config.js";
import { parseDuration } from "../duration.js";
import { resolveTokenKeys } from "./dev-keys.js";
import { mintToken } from "./mint-token.js";

/** `npm run token -- --tenant t1 --scope "admin secrets:read"`: prints a development token. */
async function main() {
  const { values } = parseArgs({
    options: {
      tenant: { type: "string", default: "default" },
      scope: { type: "string", default: "admin audit:read" },
      sub: { type: "string", default: "dev" },
      partner: { type: "string" },
      "partner-admin": { type: "boolean", default: false },
      ttl: { type: "string", default: "1h" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: npm run token -- [--tenant ID] [--scope "admin secrets:read ..."] [--sub NAME] [--partner ID] [--partner-admin] [--ttl 1h]\n',
    );
    return;
  }
  const config = loadConfig();
  const keys = await resolveTokenKeys(config);
  if (!keys.secret) throw new Error("tokens can only be minted with an HS256 secret (SCAIVAULT_JWT_SECRET or the embedded default)");
  const token = await mintToken(keys.secret, {
    tenantId: values.tenant!,
    scopes: values.scope!.split(/[\s,]+/).filter(Boolean),
    sub: values.sub,
    partnerId: values.partner,
    partnerAdmin: values["partner-admin"],
    ttlSeconds: parseDuration(values.ttl!),
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
  });
  process.stdout.write(token + "\n");
}

main().catch((err) => {
  process.stderr.write(`token: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
