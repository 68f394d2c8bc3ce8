/**
 * HTTP load generator in its own process (autocannon): N connections for D seconds against random
 * paths, printing one JSON line {rps, p50, p99, errors, non2xx}.
 * argv: url-base token paths-file connections seconds [method] [body-json]
 * Method `CONNECT_PUT` posts Connect's JSON PutSecret (`{path, data}` from the body's data) to
 * /scaivault.v1.SecretsService/PutSecret instead of a REST call.
 */
import { readFileSync } from "node:fs";
import autocannon from "autocannon";

const [base, token, pathsFile, connections, seconds, method = "GET", body] = process.argv.slice(2);
const paths = readFileSync(pathsFile!, "utf8").split("\n").filter(Boolean);
const pick = () => paths[Math.floor(Math.random() * paths.length)]!;

const result = await autocannon({
  url: base!,
  connections: Number(connections),
  duration: Number(seconds),
  headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
  requests: [
    {
      method: (method === "CONNECT_PUT" ? "POST" : method) as "GET" | "PUT" | "POST",
      setupRequest:
        method === "CONNECT_PUT"
          ? (req: any) => ({
              ...req,
              path: "/scaivault.v1.SecretsService/PutSecret",
              body: JSON.stringify({ path: decodeURIComponent(pick().slice("/v1/secrets/".length)), data: JSON.parse(body!).data }),
            })
          : (req: any) => ({ ...req, path: pick(), ...(body ? { body } : {}) }),
    },
  ],
});
process.stdout.write(
  JSON.stringify({
    rps: result.requests.average,
    total: result.requests.total,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  }) + "\n",
);
