import type { JSX } from "preact";
import { AuditPage } from "./pages/audit.js";
import { RotationBindingsPage } from "./pages/rotation-bindings.js";
import { DuePage, RotationPoliciesPage, RotationPolicyPage } from "./pages/rotation.js";
import { SecretEditPage } from "./pages/secret-edit.js";
import { SecretPage } from "./pages/secret.js";
import { SecretPoliciesPage } from "./pages/secret-policies.js";
import { SecretsPage } from "./pages/secrets.js";
import { WebhookPage, WebhooksPage } from "./pages/webhooks.js";

/**
 * Every page of the console, one entry per route. A new feature adds its page file and a line
 * here (and `nav` to show it in the menu); nothing else needs to change.
 */
export interface RouteEntry {
  path: string;
  /** The menu label, for pages reached from the menu. */
  nav?: string;
  /** The menu entry to highlight on pages reached from another page. */
  section?: string;
  render: (query: URLSearchParams) => JSX.Element;
}

export const routes: RouteEntry[] = [
  { path: "/secrets", nav: "Secrets", render: (q) => <SecretsPage query={q} /> },
  { path: "/secret", section: "/secrets", render: (q) => <SecretPage path={q.get("path") ?? ""} /> },
  { path: "/secret/new", section: "/secrets", render: (q) => <SecretEditPage prefix={q.get("prefix") ?? ""} /> },
  { path: "/secret/edit", section: "/secrets", render: (q) => <SecretEditPage path={q.get("path") ?? ""} /> },
  { path: "/rotation", nav: "Rotation policies", render: () => <RotationPoliciesPage /> },
  { path: "/rotation/policy", section: "/rotation", render: (q) => <RotationPolicyPage id={q.get("id") ?? ""} /> },
  { path: "/rotation/secrets", nav: "Provider rotations", render: (q) => <RotationBindingsPage query={q} /> },
  { path: "/rotation/due", nav: "Due rotations", render: () => <DuePage /> },
  { path: "/webhooks", nav: "Webhooks", render: () => <WebhooksPage /> },
  { path: "/webhook", section: "/webhooks", render: (q) => <WebhookPage id={q.get("id") ?? ""} /> },
  { path: "/secret-policies", nav: "Secret policies", render: () => <SecretPoliciesPage /> },
  { path: "/audit", nav: "Audit log", render: (q) => <AuditPage query={q} /> },
];
