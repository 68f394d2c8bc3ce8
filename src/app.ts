import { createAwsIamProvider } from "./rotation/providers/aws-iam.js";
import { createPostgresProvider } from "./rotation/providers/postgres.js";
import { createStripeProvider } from "./rotation/providers/stripe.js";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { Cron } from "croner";
import { SecretsService } from "../gen/scaivault/v1/secrets_pb.js";
import { RotationService } from "../gen/scaivault/v1/rotation_pb.js";
import { SecretPolicyService } from "../gen/scaivault/v1/secret_policies_pb.js";
import { WebhookService } from "../gen/scaivault/v1/webhooks_pb.js";
import { AuditService } from "../gen/scaivault/v1/audit_pb.js";
import { WatchService } from "../gen/scaivault/v1/watch_pb.js";
import { NotificationChannelService } from "../gen/scaivault/v1/notifications_pb.js";
import { createEmailSender } from "./notifications/email-sender.js";
import { createNotificationChannelsHandler } from "./notifications/notification-channels-handler.js";
import { createNotificationChannelsService } from "./notifications/notification-channels-service.js";
import { fanOutToChannels } from "./notifications/notification-channels-store.js";
import { createNotificationWorker } from "./notifications/notification-worker.js";
import { createAuditHandler } from "./audit/audit-handler.js";
import { createAuthInterceptor } from "./auth/auth-interceptor.js";
import { resolveTokenKeys } from "./auth/dev-keys.js";
import { createTenantDirectory, tenantChangeChannel } from "./auth/tenant-directory.js";
import { TenantService } from "../gen/scaivault/v1/tenants_pb.js";
import { createTenantsHandler } from "./tenants/tenants-handler.js";
import { createTokenVerifier } from "./auth/token-verifier.js";
import { systemClock, type Clock } from "./clock.js";
import type { Config } from "./config.js";
import { createEnvelope } from "./crypto/envelope.js";
import { loadMasterKey } from "./crypto/master-key.js";
import type { DatabaseHandle } from "./db/database.js";
import { migrateDatabase, openDatabase } from "./db/open-database.js";
import { createLogger, type Logger } from "./log.js";
import { createMetrics } from "./metrics/metrics.js";
import { createMetricsInterceptor } from "./metrics/metrics-interceptor.js";
import { startMetricsServer } from "./metrics/metrics-server.js";
import { readOutboxSnapshot } from "./metrics/metrics-store.js";
import { createRetentionJob } from "./retention/retention-job.js";
import { createExpiryWarningJob } from "./expiry/expiry-warning-job.js";
import { createApiDocsRoutes, packageVersion } from "./openapi/api-docs-routes.js";
import { createConsoleRoutes } from "./ui/console-routes.js";
import { createRotationEngine } from "./rotation/rotation-engine.js";
import { createRotationHandler } from "./rotation/rotation-handler.js";
import { createRotationLinks } from "./rotation/rotation-links.js";
import { createRotationScheduler } from "./rotation/rotation-scheduler.js";
import { createRotationService } from "./rotation/rotation-service.js";
import { createGeneratedProvider } from "./rotation/providers/generated.js";
import { createGuardedHttp } from "./outbound/guarded-http.js";
import type { RotationProvider } from "./rotation/providers/provider.js";
import { createProviderRegistry } from "./rotation/providers/registry.js";
import { createWebhookProvider } from "./rotation/providers/webhook.js";
import { createRotationRunner } from "./rotation/rotation-runner.js";
import { createSecretRotationService } from "./rotation/secret-rotation-service.js";
import { createSecretPoliciesHandler } from "./secret-policies/secret-policies-handler.js";
import { createSecretPoliciesService } from "./secret-policies/secret-policies-service.js";
import { createAccessRecorder } from "./secrets/access-recorder.js";
import { createSecretsHandler } from "./secrets/secrets-handler.js";
import { createSecretsService } from "./secrets/secrets-service.js";
import { createSecretReadCache, secretChangeChannel } from "./secrets/secret-read-cache.js";
import { createAuditWriter } from "./audit/audit-writer.js";
import { createTextGuardInterceptor } from "./input/text-guard.js";
import { createUniversalApp } from "./transport/universal-app.js";
import { createVaultDialect } from "./vault-dialect/vault-dialect.js";
import { createVaultKvService } from "./vault-dialect/vault-kv-service.js";
import { createVersionLifecycle } from "./secrets/version-lifecycle.js";
import { createWebhookDelivery } from "./webhooks/delivery-worker.js";
import { createAllowList } from "./outbound/ssrf-guard.js";
import { createWebhookSender } from "./outbound/webhook-sender.js";
import { createWebhooksHandler } from "./webhooks/webhooks-handler.js";
import { createWebhooksService } from "./webhooks/webhooks-service.js";
import { createWatchHandler } from "./watch/watch-handler.js";
import { createWatchHub } from "./watch/watch-hub.js";
import { createWatchService } from "./watch/watch-service.js";

export interface ScaiVaultOptions {
  config: Readonly<Config>;
  clock?: Clock;
  logger?: Logger;
  /**
   * Rotation providers beyond the built-in `webhook` and `generated` (tests pass their own through
   * here; production ones are listed in `builtInProviders`).
   */
  extraProviders?: (deps: ProviderDeps) => RotationProvider[];
}

/** What a provider factory may use. */
export interface ProviderDeps {
  db: DatabaseHandle["db"];
  config: Readonly<Config>;
  allow: ReturnType<typeof createAllowList>;
  clock: Clock;
  logger: Logger;
}

/** The providers every replica runs. A new provider is one more entry here (and its own file under src/rotation/providers/). */
function builtInProviders(deps: ProviderDeps): RotationProvider[] {
  return [
    createWebhookProvider({ allow: deps.allow, timeoutMs: deps.config.webhooks.timeoutMs }),
    createGeneratedProvider({ db: deps.db }),
    createAwsIamProvider({ allow: deps.allow }),
    createPostgresProvider({ allow: deps.allow }),
    createStripeProvider({ allow: deps.allow }),
  ];
}

/** The one composition root: stores → services → handlers → transport. */
export async function createScaiVault(options: ScaiVaultOptions) {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger({ level: config.logLevel });

  const database = await openDatabase(config, logger);
  const { db } = database;
  const applied = await migrateDatabase(config, database);
  if (applied.length > 0) logger.info("migrations applied", { applied });

  const masterKey = await loadMasterKey({ configured: config.masterKey, dataDir: config.dataDir, logger });
  const envelope = createEnvelope(masterKey, db, { maxCachedKeys: config.readPath.keyCacheEntries });
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
  // Partner membership comes from the tenant registry only; its trigger's notice reaches every replica.
  const directory = createTenantDirectory(db, config.readPath.keyCacheEntries, database.coherent);
  const stopListeningTenants = await database.listen(tenantChangeChannel, (tenantId) => directory.forget(tenantId), () => directory.clear());
  const access = createAccessRecorder({ db, clock, logger, intervalMs: config.accessFlushMs });
  const rotation = createRotationLinks();
  const readCache = createSecretReadCache(config.readPath.secretCacheEntries, database.coherent);
  const webhookAllow = createAllowList(config.webhooks.allowHosts);
  const providerDeps: ProviderDeps = { db, config, allow: webhookAllow, clock, logger };
  const providers = createProviderRegistry([...builtInProviders(providerDeps), ...(options.extraProviders?.(providerDeps) ?? [])]);
  const rotationRunner = createRotationRunner({
    db,
    envelope,
    registry: providers,
    http: createGuardedHttp({ allow: webhookAllow, timeoutMs: config.webhooks.timeoutMs }),
    readCache,
    clock,
    logger,
  });
  const secretRotations = createSecretRotationService({ db, envelope, registry: providers, runner: rotationRunner, readCache, clock, allow: webhookAllow, logger });
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
    providerRotation: secretRotations.providerRotation,
    cache: readCache,
    checkCachedRows: database.kind === "postgres",
    auditWriter,
    softDeleteRetentionSeconds: config.softDeleteRetentionSeconds,
    directory,
    listCountLimit: config.listCountLimit,
  });
  const rotationEngine = createRotationEngine({ envelope });
  const rotationPolicies = createRotationService({ db, envelope, engine: rotationEngine, readCache, clock, secretRotations });
  const secretPolicies = createSecretPoliciesService({ db, clock });
  const metrics = createMetrics({
    readCache: () => ({ ...readCache.stats(), entries: readCache.size() }),
    pool: database.poolStats,
    outbox: () => readOutboxSnapshot(db, clock.now()),
  });
  const scheduler = createRotationScheduler({
    db,
    envelope,
    engine: rotationEngine,
    readCache,
    clock,
    logger,
    // Scheduled rotations generate values in the vault (provider "generated") or announce them.
    onTick: (s) => {
      metrics.countRotations("generated", "success", s.rotated);
      metrics.countRotations("generated", "failed", s.failed);
      metrics.countRotations("event", "pending", s.announced);
      metrics.countRotations("event", "warned", s.warned);
      metrics.countRotations("generated", "stale", s.stale);
      metrics.countRotations("generated", "error", s.errors);
    },
    tickSeconds: config.scheduler.tickSeconds,
    batchSize: config.scheduler.batchSize,
    waitsForSuppliedValue: (binding) => providers.get(binding.provider)?.supplied?.required(binding.config ?? {}) ?? false,
  });
  // Expiry warnings are scheduled work too: they run where the scheduler runs, on its tick.
  const expiryWarnings = createExpiryWarningJob({
    db,
    clock,
    logger,
    thresholds: config.expiryWarnings,
    tickSeconds: config.scheduler.tickSeconds,
    batchSize: config.scheduler.batchSize,
  });
  if (config.scheduler.enabled) {
    scheduler.start();
    rotationRunner.start(config.scheduler.tickSeconds);
    expiryWarnings.start();
  }

  const webhooks = createWebhooksService({ db, envelope, clock, allow: webhookAllow });
  const webhookSender = createWebhookSender({ timeoutMs: config.webhooks.timeoutMs, allow: webhookAllow });
  const claimSeconds = Math.ceil(config.webhooks.timeoutMs / 1000) + 60;
  // The API only writes outbox rows; this worker fans them out (to webhooks and notification
  // channels, in one transaction) and sends webhook deliveries in the background.
  const webhookDelivery = createWebhookDelivery({
    db,
    envelope,
    clock,
    logger,
    sender: webhookSender,
    claimSeconds,
    alsoFanOut: [fanOutToChannels],
  });
  webhookDelivery.start(config.webhooks.pollMs);
  const notificationChannels = createNotificationChannelsService({
    db,
    envelope,
    clock,
    allow: webhookAllow,
    smtpConfigured: Boolean(config.notifications.smtpUrl),
  });
  const notificationWorker = createNotificationWorker({
    db,
    envelope,
    clock,
    logger,
    email: createEmailSender({ smtpUrl: config.notifications.smtpUrl, from: config.notifications.smtpFrom, timeoutMs: config.webhooks.timeoutMs }),
    http: webhookSender,
    publicUrl: config.notifications.publicUrl,
    claimSeconds,
  });
  notificationWorker.start(config.webhooks.pollMs);

  // Watch streams: each replica's hub hears every replica's committed events through the outbox's notices.
  const watchHub = createWatchHub({ db, listen: database.listen, logger });
  await watchHub.start();
  const watch = createWatchService({
    db,
    clock,
    hub: watchHub,
    maxStreamsPerTenant: config.watch.maxStreamsPerTenant,
    heartbeatMs: config.watch.heartbeatMs,
  });

  const purgeJob = new Cron(config.purgeCron, { protect: true }, async () => {
    try {
      const purged = await secrets.purgeExpiredDeletes();
      if (purged > 0) logger.info("purged soft-deleted secrets past retention", { purged });
    } catch (err) {
      logger.error("purge job failed", { err });
    }
  });

  const retention = createRetentionJob({ db, clock, logger, retention: config.retention });
  retention.start();

  const metricsRoute = {
    method: "GET",
    path: "/metrics",
    handle: async () => new Response(await metrics.render(), { headers: { "content-type": metrics.registry.contentType } }),
  };
  const metricsServer = config.metrics.mode === "own-port" ? await startMetricsServer({ metrics, host: config.host, port: config.metrics.port }) : undefined;

  let shuttingDown = false;
  let drained = false;
  // Its own short deadline: a database that does not answer makes this replica not ready at once.
  const ready = async () => !shuttingDown && (await database.ping(config.readyTimeoutMs));
  const authDeps = { verifier, directory, db, clock, logger };
  const vaultDialect = createVaultDialect({
    ...authDeps,
    mounts: config.vaultMounts,
    secrets,
    kv: createVaultKvService({ db, clock }),
    versions: createVersionLifecycle({ db, clock, cache: readCache }),
    ready: () => ready().then((ok) => ok && !drained),
    // Vault's API version, so clients switch on the KV v2 features it has; ScaiVault's own rides along as build metadata.
    version: `1.15.0+scaivault.${packageVersion()}`,
    maxBodyBytes: config.maxBodyBytes,
  });
  const app = createUniversalApp({
    logger,
    maxBodyBytes: config.maxBodyBytes,
    corsOrigins: config.corsOrigins,
    compression: [compressionGzip, compressionBrotli],
    maxTimeoutMs: config.maxCallMs,
    // Open watch streams end when the replica drains, so clients reconnect elsewhere and shutdown is not held up.
    onDrain: () => {
      drained = true;
      void watchHub.close();
    },
    extraRoutes: [...createApiDocsRoutes({ services: () => app.services }), ...(config.metrics.mode === "service-port" ? [metricsRoute] : []), ...createConsoleRoutes()],
    // The text guard runs inside the auth interceptor, so a refused request is audited like any failed call.
    interceptors: [createMetricsInterceptor(metrics), createAuthInterceptor(authDeps), createTextGuardInterceptor()],
    ready,
    dialect: vaultDialect,
    routes: (router) => {
      router.service(SecretsService, createSecretsHandler(secrets));
      router.service(AuditService, createAuditHandler(db));
      router.service(RotationService, createRotationHandler(rotationPolicies, secretRotations));
      router.service(SecretPolicyService, createSecretPoliciesHandler(secretPolicies));
      router.service(WebhookService, createWebhooksHandler(webhooks));
      router.service(WatchService, createWatchHandler(watch));
      router.service(NotificationChannelService, createNotificationChannelsHandler(notificationChannels));
      router.service(TenantService, createTenantsHandler({ db, clock, changed: (tenantId) => directory.forget(tenantId) }));
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
    rotationRunner,
    secretRotations,
    providers,
    webhooks,
    webhookDelivery,
    watchHub,
    notificationChannels,
    notificationWorker,
    access,
    readCache,
    logger,
    masterKey,
    metrics,
    retention,
    expiryWarnings,
    /** The port of the metrics listener when SCAIVAULT_METRICS names one (0 picks a free port). */
    metricsPort: metricsServer?.port,
    /** Stops background work and closes the database (after the server stopped accepting). */
    async close() {
      shuttingDown = true;
      purgeJob.stop();
      await retention.stop();
      await metricsServer?.close();
      await scheduler.stop();
      await rotationRunner.stop();
      await expiryWarnings.stop();
      await webhookDelivery.stop();
      await notificationWorker.stop();
      await access.close();
      await watchHub.close();
      await auditWriter.drain();
      logger.info("read audit group commit", auditWriter.stats());
      await stopListening();
      await stopListeningTenants();
      await database.close();
    },
  };
}

export type ScaiVault = Awaited<ReturnType<typeof createScaiVault>>;
