/**
 * Delivery latency in its own process: `scaivault run --watch` and `scaivault agent` (the CLI as
 * it is installed, bin/scaivault.js on dist/, default debounce 250 ms) follow one secret each
 * while this process writes it `changes` times through REST, one change at a time, and measures
 * the time from the write request's start (an upper bound of its commit) until the restarted
 * command saw the new value in its environment (the command records its own start time) and until
 * the rendered file held it (inotify on the file's directory). Afterwards it counts the command's
 * restarts and the agent's renders (a template command appends a line per written file), which
 * must equal `changes`. Prints one JSON line and exits.
 * argv: apiUrl token nodeBinary changes
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { watch } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { root } from "./bench-support.js";

const [api, token, node, changesArg] = process.argv.slice(2) as [string, string, string, string];
const changes = Number(changesArg);
/** How long one change may take to arrive before it counts as lost. */
const lostAfterMs = 10_000;
/** Quiet time after the last change in which a spurious restart or render would show. */
const settleMs = 1500;

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The command `run --watch` supervises: records when it started and the value it was given. */
const recordingChild = `require("fs").appendFileSync(process.env.RECORD, JSON.stringify({ t: performance.timeOrigin + performance.now(), v: process.env.VALUE }) + "\\n");
process.on("SIGTERM", () => process.exit(0));
setInterval(() => {}, 1000);`;

async function put(path: string, value: string) {
  const res = await fetch(`${api}/v1/secrets/${path}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ data: { value } }),
  });
  if (!res.ok) throw new Error(`PUT ${path}: ${res.status}`);
  await res.arrayBuffer();
}

function startCli(args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(node, [join(root, "bin/scaivault.js"), ...args], {
    env: { ...process.env, SCAIVAULT_CONFIG: "/nonexistent/scaivault.json", SCAIVAULT_URL: api, SCAIVAULT_TOKEN: token, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  child.once("exit", (code) => code !== null && code !== 0 && process.stderr.write(`[delivery] ${args[0]} exited ${code}: ${stderr}\n`));
  return child;
}

const lines = async (file: string) => (await readFile(file, "utf8").catch(() => "")).split("\n").filter(Boolean);

async function waitUntil<T>(probe: () => Promise<T | undefined>, timeoutMs: number, pollMs = 20): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined || Date.now() > deadline) return value;
    await sleep(pollMs);
  }
}

interface Measured {
  changes: number;
  /** Restarts of the command (run) or renders of the file (agent) after the first. */
  deliveries: number;
  lost: number;
  p50: number;
  p99: number;
  max: number;
}

/**
 * Writes `path` `changes` times, each once the previous value has arrived; `arrival(value)`
 * resolves with the time the value arrived (or undefined when it did not within `lostAfterMs`).
 */
async function measure(path: string, arrival: (value: string) => Promise<number | undefined>, deliveries: () => Promise<number>): Promise<Measured> {
  const latencies: number[] = [];
  let lost = 0;
  for (let i = 0; i < changes; i++) {
    const value = `v-${i}-${randomBytes(8).toString("hex")}`;
    const arrived = arrival(value);
    const writtenAt = now();
    await put(path, value);
    const at = await arrived;
    if (at === undefined) lost++;
    else latencies.push(at - writtenAt);
    await sleep(100 + Math.random() * 200); // changes apart, as a person or a rotation makes them
  }
  await sleep(settleMs);
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
  return { changes, deliveries: await deliveries(), lost, p50: q(0.5), p99: q(0.99), max: latencies.at(-1) ?? 0 };
}

async function stop(child: ChildProcess) {
  if (child.exitCode !== null) return;
  const gone = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await Promise.race([gone, sleep(15_000)]);
}

/** `run --watch`: the latency is the restarted command's own start time. */
async function measureRun(dir: string): Promise<Measured> {
  const path = "bench-delivery/run";
  await put(path, "initial");
  const record = join(dir, "starts.jsonl");
  await writeFile(join(dir, "child.cjs"), recordingChild);
  const cli = startCli(["run", "--watch", "--env", `VALUE=${path}#value`, "--", node, join(dir, "child.cjs")], { RECORD: record });
  if (!(await waitUntil(async () => ((await lines(record)).length > 0 ? true : undefined), lostAfterMs))) throw new Error("run --watch never started its command");
  const startOf = async (value: string) => {
    const start = (await lines(record)).map((l) => JSON.parse(l) as { t: number; v: string }).find((s) => s.v === value);
    return start?.t;
  };
  try {
    return await measure(path, (value) => waitUntil(() => startOf(value), lostAfterMs), async () => (await lines(record)).length - 1);
  } finally {
    await stop(cli);
  }
}

/** `agent`: the latency is when inotify reported the rename that put the new value in the file. */
async function measureAgent(dir: string): Promise<Measured> {
  const path = "bench-delivery/agent";
  await put(path, "initial");
  const out = join(dir, "out");
  const destination = join(out, "app.env");
  const renders = join(dir, "renders.txt");
  const config = join(dir, "agent.json");
  await writeFile(config, JSON.stringify({ templates: [{ destination, format: "dotenv", secrets: [path], command: `echo rendered >> '${renders}'` }] }));
  const cli = startCli(["agent", "--config", config], {});
  if (!(await waitUntil(async () => ((await lines(renders)).length > 0 ? true : undefined), lostAfterMs))) throw new Error("the agent never rendered its file");
  let expected: { value: string; resolve(at: number): void } | undefined;
  const look = async (at: number) => {
    const wanted = expected;
    if (wanted && (await readFile(destination, "utf8").catch(() => "")).includes(wanted.value)) {
      expected = undefined;
      wanted.resolve(at);
    }
  };
  const watcher = watch(out, () => void look(now()));
  const arrival = (value: string) =>
    new Promise<number | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), lostAfterMs);
      expected = { value, resolve: (at) => (clearTimeout(timer), resolve(at)) };
    });
  try {
    return await measure(path, arrival, async () => (await lines(renders)).length - 1);
  } finally {
    watcher.close();
    await stop(cli);
  }
}

const dir = await mkdtemp(join(tmpdir(), "scaivault-bench-delivery-"));
try {
  const run = await measureRun(dir);
  const agent = await measureAgent(dir);
  process.stdout.write(JSON.stringify({ run, agent }) + "\n");
} finally {
  await rm(dir, { recursive: true, force: true });
}
