/**
 * Drives one URL with h2load (Debian's nghttp2-client), the same C load generator for REST
 * (`--h1`) and gRPC (h2c prior knowledge, a framed request body), so neither protocol is measured
 * through a slower client than the other. Prints one JSON line {rps, total, p50, p99, errors, non2xx};
 * h2load reports a mean, not percentiles, so p50 carries the mean request time and p99 its maximum.
 * argv: url connections seconds [h1|grpc] [body-file] -- header...
 */
import { execFileSync } from "node:child_process";

const [url, connections, seconds, mode, bodyFile, ...rest] = process.argv.slice(2);
const headers = rest[0] === "--" ? rest.slice(1) : rest;
const args = ["-c", connections!, "-m", "1", "-D", seconds!];
if (mode === "h1") args.push("--h1");
if (bodyFile) args.push("-d", bodyFile);
for (const h of headers) args.push("-H", h);
args.push(url!);
const out = execFileSync("h2load", args, { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });

const number = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
const rps = number(/finished in [\d.]+s, ([\d.]+) req\/s/);
const succeeded = number(/(\d+) succeeded/);
const failed = number(/(\d+) failed/) + number(/(\d+) errored/) + number(/(\d+) timeout/);
const status = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
const non2xx = status ? Number(status[2]) + Number(status[3]) + Number(status[4]) : 0;
// "time for request:  min  max  mean  sd  +/- sd", each with its unit.
const timing = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out);
const ms = (v: string | undefined) => (v === undefined ? NaN : v.endsWith("us") ? parseFloat(v) / 1000 : v.endsWith("ms") ? parseFloat(v) : parseFloat(v) * 1000);
if (!Number.isFinite(rps)) throw new Error(`could not read h2load's output:\n${out}`);
process.stdout.write(JSON.stringify({ rps, total: succeeded, p50: ms(timing?.[3]), p99: ms(timing?.[2]), errors: failed, non2xx }) + "\n");
