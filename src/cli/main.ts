import { runCli } from "./cli.js";
import { commands } from "./commands/index.js";

// `scaivault ...` (bin/scaivault.js runs the compiled copy of this file in dist/).
process.exitCode = await runCli(commands, process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stdin: process.stdin,
  env: process.env,
});
