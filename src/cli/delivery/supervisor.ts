import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:os";

/** How a supervised command is started and restarted. */
export interface SupervisorOptions {
  /** The command and its arguments (no shell). */
  command: string[];
  /** The environment the secrets are added to. */
  baseEnv: NodeJS.ProcessEnv;
  /** Sent to stop the child before a restart (default SIGTERM). */
  restartSignal: NodeJS.Signals;
  /** How long the child has to exit after `restartSignal` before SIGKILL. */
  restartGraceMs: number;
  /** One line for standard error (never a value). */
  log(message: string): void;
}

/** A running command: restartable with new variables until it exits on its own. */
export interface Supervisor {
  /** The child's exit code once it exits on its own or after a forwarded signal (128 + n for signal n, 127 when it could not start). */
  exited: Promise<number>;
  /** Stops the child (restart signal, grace, SIGKILL) and starts it again with `env`; nothing once it has exited. */
  restart(env: Record<string, string>): Promise<void>;
  /** How many times the child was started. */
  starts(): number;
}

/** Signals passed on to the child. SIGINT only when standard input is not a terminal: a terminal's Ctrl-C reaches the child itself. */
function forwardedSignals(): NodeJS.Signals[] {
  const signals: NodeJS.Signals[] = ["SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH"];
  if (!process.stdin.isTTY) signals.push("SIGINT");
  return signals;
}

/** The shell's convention for an exit code: the code, or 128 + the signal's number. */
export function exitCodeOfChild(code: number | null, signal: NodeJS.Signals | null): number {
  if (signal) return 128 + (constants.signals[signal] ?? 0);
  return code ?? 1;
}

/**
 * Starts `command` with `env` added to its environment, standard input, output and error passed
 * through, and the signals this process receives forwarded to it. The secrets reach the child
 * through its environment only, never its command line.
 */
export function superviseChild(options: SupervisorOptions, env: Record<string, string>): Supervisor {
  let child: ChildProcess | undefined;
  let starts = 0;
  let done = false;
  let stopping = false;
  let settle!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (settle = resolve));
  let restarting: Promise<void> = Promise.resolve();

  const finish = (code: number) => {
    if (done) return;
    done = true;
    for (const signal of signals) process.removeListener(signal, forward);
    settle(code);
  };
  const forward = (signal: NodeJS.Signals) => {
    if (signal !== "SIGWINCH" && signal !== "SIGUSR1" && signal !== "SIGUSR2" && signal !== "SIGHUP") stopping = true;
    child?.kill(signal);
  };
  const signals = forwardedSignals();
  for (const signal of signals) process.on(signal, forward);

  const start = (vars: Record<string, string>) => {
    starts++;
    const childEnv = { ...options.baseEnv, ...vars };
    const [file, ...args] = options.command;
    const current = spawn(file!, args, { stdio: "inherit", env: childEnv });
    child = current;
    current.once("error", (err: NodeJS.ErrnoException) => {
      options.log(`cannot start ${file}: ${err.code ?? err.message}`);
      if (child === current) finish(err.code === "ENOENT" ? 127 : 126);
    });
    current.once("exit", (code, signal) => {
      if (child === current && !replacing.has(current)) finish(exitCodeOfChild(code, signal));
    });
  };
  /** Children being stopped for a restart: their exit is not the end. */
  const replacing = new Set<ChildProcess>();

  const stopForRestart = async (old: ChildProcess) => {
    replacing.add(old);
    const gone = new Promise<void>((resolve) => {
      if (old.exitCode !== null || old.signalCode !== null) resolve();
      else old.once("exit", () => resolve());
    });
    old.kill(options.restartSignal);
    const timer = setTimeout(() => {
      options.log(`the command did not exit within ${options.restartGraceMs} ms of ${options.restartSignal}: SIGKILL`);
      old.kill("SIGKILL");
    }, options.restartGraceMs);
    await gone;
    clearTimeout(timer);
  };

  start(env);
  return {
    exited,
    starts: () => starts,
    restart(vars) {
      restarting = restarting.then(async () => {
        if (done || stopping || !child) return;
        await stopForRestart(child);
        if (done || stopping) return finish(exitCodeOfChild(child.exitCode, child.signalCode));
        start(vars);
      });
      return restarting;
    },
  };
}
