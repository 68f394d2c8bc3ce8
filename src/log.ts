import { pino, type DestinationStream, type Logger as PinoLogger } from "pino";

/** Structured JSON logs. Callers pass ids and codes, never secret values or tokens. */
export type LogLevel = "debug" | "info" | "warn" | "error";

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

// Fields that name a credential are replaced wherever they appear; callers should not pass them,
// this is the net under that rule.
const redactedKeys = ["token", "authorization", "password", "secret", "api_key", "apiKey", "master_key", "masterKey", "databaseUrl", "database_url"];
const redactPaths = redactedKeys.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

// Credentials that hide inside strings (error messages above all): the password of a URL
// (`postgres://user:pw@host`), bearer tokens and anything shaped like a JWT.
const urlPassword = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]*@/gi;
const bearer = /\b(Bearer\s+)[\w.~+/=-]+/gi;
const jwt = /\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*/g;

/** A string with URL passwords, bearer tokens and JWTs replaced by `[redacted]`. */
export function scrubCredentials(text: string): string {
  // Cheap checks first: most log strings contain none of these.
  if (!text.includes("://") && !text.includes("eyJ") && !/bearer/i.test(text)) return text;
  return text.replace(urlPassword, "$1[redacted]@").replace(bearer, "$1[redacted]").replace(jwt, "[redacted]");
}

/** Fields ready to log: errors as {name, message, stack, cause}, every string scrubbed, nesting bounded. */
function clean(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return scrubCredentials(value);
  if (value === null || typeof value !== "object") return value;
  if (depth > 6) return "[nested too deep]";
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: scrubCredentials(value.message) };
    if (value.stack) out.stack = scrubCredentials(value.stack);
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    if (value.cause !== undefined) out.cause = clean(value.cause, depth + 1);
    return out;
  }
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((v) => clean(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) out[key] = clean(v, depth + 1);
  return out;
}

function cleanFields(fields: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!fields) return undefined;
  let needed = false;
  for (const key in fields) {
    const v = fields[key];
    if (v !== null && (typeof v === "object" || (typeof v === "string" && (v.includes("://") || v.includes("eyJ") || /bearer/i.test(v))))) {
      needed = true;
      break;
    }
  }
  return needed ? (clean(fields) as Record<string, unknown>) : fields;
}

function facade(p: PinoLogger): Logger {
  const emit = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    if (!p.isLevelEnabled(level)) return;
    const safe = cleanFields(fields);
    if (safe) p[level](safe, scrubCredentials(msg));
    else p[level](scrubCredentials(msg));
  };
  return {
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    child: (fields) => facade(p.child(cleanFields(fields) ?? {})),
  };
}

/**
 * Creates a logger writing one JSON object a line (`time`, `level`, `msg` and the fields) through
 * pino: to `write` when given (tests keep the lines), else synchronously to stdout.
 */
export function createLogger(options: { level?: LogLevel; write?: (line: string) => void; base?: Record<string, unknown> }): Logger {
  const write = options.write;
  const destination: DestinationStream = write
    ? { write: (chunk: string) => write(chunk.endsWith("\n") ? chunk.slice(0, -1) : chunk) }
    : pino.destination({ dest: 1, sync: true });
  const p = pino(
    {
      level: options.level ?? "info",
      base: null,
      messageKey: "msg",
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: redactPaths, censor: "[redacted]" },
      // Errors are already plain objects (see clean); pino's own serializer would fold the causes into one message.
      serializers: { err: (err: unknown) => err },
    },
    destination,
  );
  return facade(options.base ? p.child(cleanFields(options.base)!) : p);
}

/** A logger that drops everything. */
export const silentLogger: Logger = createLogger({ level: "error", write: () => {} });
