import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestVault, type TestVault } from "../support/vault.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));
const packageDir = join(root, "clients/typescript");

// What a consumer writes: both entries, typed `data`, typed errors. The @ts-expect-error lines
// prove the package's types are really there (with `any` types they would be unused and fail).
const consumer = `
import { createScaiVaultClient, ScaiVaultError, type SecretValue } from "@scaivault/client";
import { createScaiVaultClient as createWebClient } from "@scaivault/client/web";

const [baseUrl, token] = process.argv.slice(2) as [string, string];
const vault = createScaiVaultClient({ baseUrl, token, protocol: "grpc", cache: { ttlMs: 1000 } });
await vault.secrets.put("tarball/db", { password: "from-the-tarball" }, { tags: ["packed"] });
const secret: SecretValue<{ password: string }> = await vault.secrets.get<{ password: string }>("tarball/db");
const web = createWebClient({ baseUrl, token, protocol: "grpc-web" });
const viaWeb = await web.secrets.get("tarball/db");
let code = "";
try {
  await vault.secrets.get("tarball/missing");
} catch (err) {
  if (err instanceof ScaiVaultError) code = err.code;
}
console.log(JSON.stringify({ password: secret.data.password, version: viaWeb.version, code }));
vault.close();

function typeChecks() {
  // @ts-expect-error browsers cannot speak native gRPC
  createWebClient({ baseUrl, protocol: "grpc" });
  // @ts-expect-error a token or getToken, not both
  createScaiVaultClient({ baseUrl, token, getToken: () => token });
  // @ts-expect-error data is typed
  const n: number = secret.data.password;
  return n;
}
void typeChecks;
`;

let tv: TestVault;
let work: string;
beforeAll(async () => {
  tv = await startTestVault();
  work = await mkdtemp(join(tmpdir(), "scaivault-client-"));
});
afterAll(async () => {
  await tv?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** The README's "Installing from a checkout" block: its `npm pack` and `npm install` lines. */
async function readmeInstallSteps(): Promise<{ readme: string; pack: string; install: string }> {
  const readme = await readFile(join(packageDir, "README.md"), "utf8");
  const section = readme.indexOf("## Installing from a checkout");
  expect(section).toBeGreaterThan(0);
  const lines = /```bash\n([\s\S]*?)```/.exec(readme.slice(section))![1]!.split("\n");
  const pack = lines.find((l) => l.startsWith("npm pack "));
  const install = lines.find((l) => l.startsWith("npm install "));
  expect(pack).toBeDefined();
  expect(install).toBeDefined();
  return { readme, pack: pack!, install: install! };
}

it("the README states the Node.js release the engines admit and no registry install", async () => {
  const { readme } = await readmeInstallSteps();
  const engines = JSON.parse(await readFile(join(packageDir, "package.json"), "utf8")).engines.node as string;
  expect(engines).toBe(">=22.12.0");
  expect(readme).toContain("Node.js ≥ 22.12");
  expect(readme).not.toMatch(/^npm install @scaivault\/client/m);
});

it("installs as its README says, from the npm pack tarball, into a fresh project, type-checks and calls a live server", async () => {
  const npmOptions = { cwd: root, env: { ...process.env, npm_config_loglevel: "error" }, maxBuffer: 16 * 1024 * 1024 };
  // The README's lines as written, in the checkout and in the project; only /tmp becomes this test's directory.
  const steps = await readmeInstallSteps();
  await run("bash", ["-c", steps.pack.replaceAll("/tmp", work)], npmOptions);
  const tarball = (await readdir(work)).find((f) => f.endsWith(".tgz"));
  expect(tarball).toMatch(/^scaivault-client-.*\.tgz$/);
  expect(steps.install).toContain(`/tmp/${tarball}`);

  const project = join(work, "consumer");
  await mkdir(project);
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  await writeFile(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        lib: ["ES2022", "DOM"], // Connect's own types use the fetch API's HeadersInit
        strict: true,
        skipLibCheck: false,
        typeRoots: [join(root, "node_modules/@types")],
        types: ["node"],
        outDir: "out",
      },
      include: ["main.ts"],
    }),
  );
  await writeFile(join(project, "main.ts"), consumer);
  await run("bash", ["-c", steps.install.replaceAll("/tmp", work)], {
    ...npmOptions,
    cwd: project,
    env: { ...npmOptions.env, npm_config_prefer_offline: "true", npm_config_audit: "false", npm_config_fund: "false" },
  });

  await run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", project], { cwd: project }).catch((err) => {
    throw new Error(`tsc failed:\n${err.stdout}${err.stderr}`);
  });
  const token = await tv.token({ tenantId: "tarball" });
  const { stdout } = await run(process.execPath, [join(project, "out/main.js"), tv.baseUrl, token], { cwd: project, timeout: 30_000 });
  expect(JSON.parse(stdout)).toEqual({ password: "from-the-tarball", version: 1, code: "secret_not_found" });
}, 600_000); // npm pack, npm install and two tsc runs: minutes on a loaded machine
