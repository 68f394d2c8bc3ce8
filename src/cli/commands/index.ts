import type { GroupSpec } from "../cli.js";
import { auditCommands } from "./audit.js";
import { loginCommand, tokenCommand } from "./auth.js";
import { rotationCommands } from "./rotation.js";
import { secretPolicyCommands } from "./secret-policies.js";
import { secretsCommands } from "./secrets.js";
import { tenantCommands } from "./tenants.js";
import { webhookCommands } from "./webhooks.js";
import { channelCommands } from "./channels.js";
import { runCommand } from "./run.js";
import { agentCommand } from "./agent.js";

/** Every command of `scaivault`. */
export const commands: GroupSpec = {
  name: "scaivault",
  summary: "ScaiVault from the command line: secrets, rotation policies, secret policies, webhooks, notification channels, the tenant registry, and delivering secrets to processes.",
  commands: [loginCommand, tokenCommand, secretsCommands, rotationCommands, secretPolicyCommands, webhookCommands, channelCommands, auditCommands, tenantCommands, runCommand, agentCommand],
};
