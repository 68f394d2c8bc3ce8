import { Cron } from "croner";
import { SecretsService } from "../gen/scaivault/v1/secrets_pb.js";
import { RotationService } from "../gen/scaivault/v1/rotation_pb.js";
import { SecretPolicyService } from "../gen/scaivault/v1/secret_policies_pb.js";
import { WebhookService } from "../gen/scaivault/v1/webhooks_pb.js";
import { AuditService } from "../gen/scaivault/v1/audit_pb.js";
import { createAuditHandler } from "./audit/audit-handler.js";
import { createAuthInterceptor } from "./auth/auth-interceptor.js";
import { resolveTokenKeys } from "./auth/dev-keys.js";
import { createTenantDirectory } from "./auth/tenant-directory.js";
import { createTokenVerifier } from "./auth/token-verifier.js";
import { systemClock, type Clock } from "./clock.js";
import type { Config } from "./config.js";
import { createEnvelope } from "./crypto/envelope.js";
import { loadMasterKey } from "./crypto/master-key.js";
import { connectEmbedded, connectPostgres, type DatabaseHandle } from "./db/database.js";
import { migrateToLatest } from "./db/migrations.js";
import { createLogger, type Logger } from "./log.js";
import { createApiDocsRoutes } from "./openapi/api-docs-routes.js";
import { createConsoleRoutes } from "./ui/console-routes.js";
import { createRotationEngine } from "./rotation/rotation-engine.js";
import { createRotationHandler } from "./rotation/rotation-handler.js";
import { createRotationLinks } from "./rotation/rotation-links.js";
import { createRotationScheduler } from "./rotation/rotation-scheduler.js";
import { createRotationService } from "./rotation/rotation-service.js";
import { createSecretPoliciesHandler } from "./secret-policies/secret-policies-handler.js";
import { createSecretPoliciesService } from "./secret-policies/secret-policies-service.js";
import { createAccessRecorder } from "./secrets/access-recorder.js";
import { createSecretsHandler } from "./secrets/secrets-handler.js";
import { createSecretsService } from "./secrets/secrets-service.js";
import { createSecretReadCache, secretChangeChannel } from "./secrets/secret-read-cache.js";
import { createAuditWriter } from "./audit/audit-writer.js";
import { createUniversalApp } from "./transport/universal-app.js";
import { createWebhookDelivery } from "./webhooks/delivery-worker.js";
import { createAllowList } from "./webhooks/ssrf-guard.js";
import { createWebhookSender } from "./webhooks/webhook-sender.js";
import { createWebhooksHandler } from "./webhooks/webhooks-handler.js";
import { createWebhooksService } from "./webhooks/webhooks-service.js";
import { sql } from "kysely";

export interface ScaiVaultOptions {
  config: Readonly<Config>;
  clock?: Clock;
  logger?: Logger;
}

/** Opens the configured database: PostgreSQL when DATABASE_URL is set, else embedded PGlite in the data dir. */
export async function openDatabase(config: Readonly<Config>, logger?: Logger): Promise<DatabaseHandle> {
  return config.databaseUrl
    ? connectPostgres(config.databaseUrl, config.dbPoolSize, (err) => logger?.warn("idle database connection lost", { err: err.message }))
    : connectEmbedded(config.dataDir);
}

/** The one composition root: stores → services → handlers → transport. */
export async function createScaiVault(options: ScaiVaultOptions) {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger({ level: config.logLevel });

  const database = await openDatabase(config, logger);
  const { db } = database;
  const applied = await migrateToLatest(db);
  if (applied.length > 0) logger.info("migrations applied", { applied });

  const masterKey = await loadMasterKey({ configured: config.masterKey, dataDir: config.dataDir, logger });
  const envelope = createEnvelope(masterKey, db);
  const tokenKeys = await resolveTokenKeys(config);
  if (tokenKeys.generated) logger.warn("verifying tokens with the generated development secret in the data directory; configure SCAIVAULT_JWT_* in production");
  const verifier = await createTokenVerifier({
    keys: tokenKeys,
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
    clockSkewSeconds: config.jwt.clockSkewSeconds,
    clock,
    cacheSize: config.readPath.tokenCacheEntries,
  });
  const directory = createTenantDirectory(db, clock);
  const access = createAccessRecorder({ db, clock, logger, intervalMs: config.accessFlushMs });
  const rotation = createRotationLinks();
  const readCache = createSecretReadCache(config.readPath.secretCacheEntries);
  // Any replica's change (and any SQL) reaches every replica's cache through the trigger's notice;
  // when notices may have been missed (the listening connection dropped) the whole cache goes.
  const stopListening = await database.listen(
    secretChangeChannel,
    (secretId) => readCache.invalidateSecret(Number(secretId)),
    () => readCache.clear(),
  );
  const auditWriter = createAuditWriter({ db, logger, maxBatch: config.readPath.auditBatchMax });
  const secrets = createSecretsService({
    db,
    envelope,
    clock,
    access,
    rotation,
    cache: readCache,
    auditWriter,
    softDeleteRetentionSeconds: config.softDeleteRetentionSeconds,
  });
  const rotationEngine = createRotationEngine({ envelope });
  const rotationPolicies = createRotationService({ db, envelope, engine: rotationEngine, readCache, clock });
  const secretPolicies = createSecretPoliciesService({ db, clock });
  const scheduler = createRotationScheduler({
    db,
    envelope,
    engine: rotationEngine,
    readCache,
    clock,
    logger,
    tickSeconds: config.scheduler.tickSeconds,
    batchSize: config.scheduler.batchSize,
  });
  if (config.scheduler.enabled) scheduler.start();

  const webhookAllow = createAllowList(config.webhooks.allowHosts);
  const webhooks = createWebhooksService({ db, envelope, clock, allow: webhookAllow });
  // The API only writes outbox rows; this worker fans them out and sends them in the background.
  const webhookDelivery = createWebhookDelivery({
    db,
    envelope,
    clock,
    logger,
    sender: createWebhookSender({ timeoutMs: config.webhooks.timeoutMs, allow: webhookAllow }),
    claimSeconds: Math.ceil(config.webhooks.timeoutMs / 1000) + 60,
  });
  webhookDelivery.start(config.webhooks.pollMs);

  const purgeJob = new Cron(config.purgeCron, { protect: true }, async () => {
    try {
      const purged = await secrets.purgeExpiredDeletes();
      if (purged > 0) logger.info("purged soft-deleted secrets past retention", { purged });
    } catch (err) {
      logger.error("purge job failed", { err });
    }
  });

  let shuttingDown = false;
  const app = createUniversalApp({
    logger,
    maxBodyBytes: config.maxBodyBytes,
    corsOrigins: config.corsOrigins,
    extraRoutes: [...createApiDocsRoutes({ services: () => app.services }), ...createConsoleRoutes()],
    interceptors: [createAuthInterceptor({ verifier, directory, db, clock, logger })],
    ready: async () => {
      if (shuttingDown) return false;
      try {
        await sql`select 1`.execute(db);
        return true;
      } catch {
        return false;
      }
    },
    routes: (router) => {
      router.service(SecretsService, createSecretsHandler(secrets));
      router.service(AuditService, createAuditHandler(db));
      router.service(RotationService, createRotationHandler(rotationPolicies));
      router.service(SecretPolicyService, createSecretPoliciesHandler(secretPolicies));
      router.service(WebhookService, createWebhooksHandler(webhooks));
    },
  });

  return {
    app,
    db,
    database,
    secrets,
    rotationPolicies,
    secretPolicies,
    scheduler,
    webhooks,
    webhookDelivery,
    access,
    readCache,
    logger,
    masterKey,
    /** Stops background work and closes the database (after the server stopped accepting). */
    async close() {
      shuttingDown = true;
      purgeJob.stop();
      await scheduler.stop();
      await webhookDelivery.stop();
      await access.close();
      await auditWriter.drain();
      logger.info("read audit group commit", auditWriter.stats());
      await stopListening();
      await database.close();
    },
  };
}

export type ScaiVault = Awaited<ReturnType<typeof createScaiVault>>;
