import type { JsonObject, JsonValue } from "../api.js";

// The settings form of each rotation provider: its public `config` fields (echoed back by the
// API) and its write-only `credentials` fields. The service validates both; these lists only
// decide which inputs to show and how to turn their text into JSON.

export const providerNames = ["webhook", "aws_iam", "postgres", "stripe", "generated"] as const;
export type ProviderName = (typeof providerNames)[number];

/**
 * `text` and `url` are strings, `number` an integer, `check` a boolean, `choice` one of `choices`,
 * `roles` one role name (in place) or two comma-separated ones (alternating), sent as
 * `username` or `usernames`.
 */
export interface ConfigField {
  key: string;
  label: string;
  kind: "text" | "url" | "number" | "check" | "choice" | "roles";
  required?: boolean;
  hint?: string;
  choices?: string[];
  placeholder?: string;
}

export interface CredentialField {
  key: string;
  label: string;
  hint?: string;
}

export interface ProviderForm {
  label: string;
  about: string;
  config: ConfigField[];
  credentials: CredentialField[];
}

export const providerForms: Record<ProviderName, ProviderForm> = {
  webhook: {
    label: "webhook — your endpoint issues the new value",
    about: "ScaiVault POSTs {action: \"rotate\", currentValue, timestamp, path} with X-Webhook-Secret; the endpoint answers 2xx {newValue}.",
    config: [
      { key: "url", label: "Endpoint URL", kind: "url", required: true, placeholder: "https://rotator.example.com/rotate" },
      { key: "field", label: "Field", kind: "text", hint: "The data key the endpoint rotates. Empty: the only key, else the whole value." },
      { key: "revoke", label: "Call the endpoint again to revoke the retired value", kind: "check" },
    ],
    credentials: [{ key: "secret", label: "Webhook secret", hint: "Sent as X-Webhook-Secret. Required." }],
  },
  aws_iam: {
    label: "aws_iam — a new IAM access key",
    about: "Creates a second access key for the IAM user, tests it, promotes it, then deactivates and deletes the old one after the grace period.",
    config: [
      { key: "iam_user_name", label: "IAM user name", kind: "text", required: true },
      { key: "region", label: "Region", kind: "text", required: true, placeholder: "us-east-1" },
      { key: "endpoint", label: "IAM endpoint", kind: "url", hint: "Only for IAM-compatible services." },
    ],
    credentials: [
      { key: "access_key_id", label: "Rotation identity: access key id", hint: "Empty: the secret's own key creates its successor." },
      { key: "secret_access_key", label: "Rotation identity: secret access key" },
    ],
  },
  postgres: {
    label: "postgres — a new role password",
    about: "Two roles alternate (the old one keeps working through the grace period); one role is changed in place and its old password stops working at once.",
    config: [
      { key: "host", label: "Host", kind: "text", required: true },
      { key: "port", label: "Port", kind: "number", placeholder: "5432" },
      { key: "database", label: "Database", kind: "text", required: true },
      { key: "usernames", label: "Roles", kind: "roles", required: true, hint: "Two comma-separated roles to alternate, or one to change in place." },
      { key: "ssl", label: "Connect with TLS (certificate verified)", kind: "check" },
    ],
    credentials: [
      { key: "admin_username", label: "Admin role", hint: "A role allowed to ALTER the rotated roles. Required." },
      { key: "admin_password", label: "Admin password" },
    ],
  },
  stripe: {
    label: "stripe — a new Stripe API key",
    about: "app_managed: a Stripe App creates and expires keys; supplied: you give the new key when rotating and ScaiVault tests it.",
    config: [
      { key: "mode", label: "Mode", kind: "choice", required: true, choices: ["app_managed", "supplied"] },
      { key: "livemode", label: "Live mode keys (sk_live_ / rk_live_)", kind: "check" },
      { key: "account", label: "Account", kind: "text", placeholder: "acct_…", hint: "Sent as Stripe-Context; required in app_managed mode." },
      { key: "api_base", label: "API base URL", kind: "url", hint: "Default https://api.stripe.com." },
      { key: "api_version", label: "API version", kind: "text" },
      { key: "key_name", label: "Key name", kind: "text" },
    ],
    credentials: [{ key: "api_key", label: "Stripe App secret key", hint: "Required in app_managed mode." }],
  },
  generated: {
    label: "generated — a new value from the secret policy's generator",
    about: "The vault generates the new value itself (create and promote only).",
    config: [{ key: "secret_policy_id", label: "Secret policy id", kind: "text", hint: "Empty: the secret's or the rotation policy's." }],
    credentials: [],
  },
};

export function isProviderName(name: string): name is ProviderName {
  return (providerNames as readonly string[]).includes(name);
}

/** The form's text of each config field, from a binding's echoed config. */
export function configTexts(provider: ProviderName, config: JsonObject | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of providerForms[provider].config) {
    const value: JsonValue | undefined = f.kind === "roles" ? (config?.usernames ?? config?.username) : config?.[f.key];
    if (value === undefined || value === null) continue;
    out[f.key] = Array.isArray(value) ? value.join(", ") : String(value);
  }
  return out;
}

/** The `config` object the API takes, from the form's texts; empty fields are left out. */
export function configObject(provider: ProviderName, texts: Record<string, string>): JsonObject {
  const config: JsonObject = {};
  for (const f of providerForms[provider].config) {
    const text = (texts[f.key] ?? "").trim();
    if (f.kind === "check") {
      // stripe's livemode is required either way; the others are sent only when ticked.
      if (text === "true") config[f.key] = true;
      else if (f.key === "livemode") config[f.key] = false;
      continue;
    }
    if (text === "") continue;
    if (f.kind === "number") config[f.key] = /^-?\d+$/.test(text) ? Number(text) : text;
    else if (f.kind === "roles") {
      const roles = text.split(",").map((r) => r.trim()).filter(Boolean);
      if (roles.length === 1) config.username = roles[0]!;
      else config.usernames = roles;
    } else config[f.key] = text;
  }
  return config;
}

/** The `credentials` object from the form's password inputs; undefined when all are empty (a replace keeps the stored ones). */
export function credentialsObject(provider: ProviderName, texts: Record<string, string>): JsonObject | undefined {
  const out: JsonObject = {};
  for (const f of providerForms[provider].credentials) if (texts[f.key]) out[f.key] = texts[f.key]!;
  return Object.keys(out).length ? out : undefined;
}
