import type { Clock } from "../../clock.js";
import type { Config } from "../../config.js";
import type { DatabaseHandle } from "../../db/database.js";
import type { Logger } from "../../log.js";
import type { createAllowList } from "../../outbound/ssrf-guard.js";
import { createAwsIamProvider } from "./aws-iam.js";
import { createGeneratedProvider } from "./generated.js";
import { createPostgresProvider } from "./postgres.js";
import type { RotationProvider } from "./provider.js";
import { createStripeProvider } from "./stripe.js";
import { createWebhookProvider } from "./webhook.js";

/** What a provider factory may use. */
export interface ProviderDeps {
  db: DatabaseHandle["db"];
  config: Readonly<Config>;
  allow: ReturnType<typeof createAllowList>;
  clock: Clock;
  logger: Logger;
}

/** The providers every replica runs. A new provider is one more entry here (and its own file in this folder). */
export function builtInProviders(deps: ProviderDeps): RotationProvider[] {
  return [
    createWebhookProvider({ allow: deps.allow, timeoutMs: deps.config.webhooks.timeoutMs }),
    createGeneratedProvider({ db: deps.db }),
    createAwsIamProvider({ allow: deps.allow }),
    createPostgresProvider({ allow: deps.allow }),
    createStripeProvider({ allow: deps.allow }),
  ];
}
