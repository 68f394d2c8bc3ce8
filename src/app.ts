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
import { createRotationEngine } from "./rotation-policies/rotation-engine.js";
import { createPolicyHandler } from "./rotation-policies/rotation-handler.js";
import { createBindingHandler } from "./provider-rotation/binding-handler.js";
import { createRotationLinks } from "./rotation-policies/policy-links.js";
import { createRotationScheduler } from "./rotation-policies/rotation-scheduler.js";
import { createRotationService } from "./rotation-policies/policy-service.js";
import { createPolicyRuns } from "./provider-rotation/policy-runs.js";
import { createGuardedHttp } from "./outbound/guarded-http.js";
import type { RotationProvider } from "./provider-rotation/providers/provider.js";
import { createProviderRegistry } from "./provider-rotation/providers/registry.js";
import { builtInProviders, type ProviderDeps } from "./provider-rotation/providers/built-in.js";
export type { ProviderDeps };
import { createRotationRunner } from "./provider-rotation/rotation-runner.js";
import { createSecretRotationService } from "./provider-rotation/binding-service.js";
import { createSecretPoliciesHandler } from "./secret-policies/secret-policies-handler.js";
import { createSecretPoliciesService } from "./secret-policies/secret-policies-service.js";
import { createAccessRecorder } from "./secrets/access-recorder.js";
import { createSecretsHandler } from "./secrets/secrets-handler.js";
import { createSecretsService } from "./secrets/secrets-service.js";
import { createSecretReadCache, secretChangeChannel } from "./secrets/secret-read-cache.js";
import { createStampChecker } from "./secrets/stamp-checker.js";
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

/** What every feature is built on: the database, keys, token checks and the shared caches. */
async function openFoundation(options: ScaiVaultOptions) {
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
  const readCache = createSecretReadCache(config.readPath.secretCacheEntries, database.coherent);
  // Any replica's change (and any SQL) reaches every replica's cache through the trigger's notice;
  // when notices may have been missed (the listening connection dropped) the whole cache goes.
  const stopListeningSecrets = await database.listen(
    secretChangeChannel,
    (secretId) => readCache.invalidateSecret(Number(secretId)),
    () => readCache.clear(),
  );
  const stopListening = async () => {
    await stopListeningSecrets();
    await stopListeningTenants();
  };
  const allow = createAllowList(config.webhooks.allowHosts);
  return { config, clock, logger, database, db, masterKey, envelope, verifier, directory, readCache, allow, stopListening };
}

type Foundation = Awaited<ReturnType<typeof openFoundation>>;

/** The secrets, both rotation features and secret policies, with the background work they schedule. */
function createSecretFeatures(f: Foundation, options: ScaiVaultOptions) {
  const { config, db, envelope, clock, logger, readCache, allow } = f;
  const access = createAccessRecorder({ db, clock, logger, intervalMs: config.accessFlushMs });
  const providerDeps: ProviderDeps = { db, config, allow, clock, logger };
  const providers = createProviderRegistry([...builtInProviders(providerDeps), ...(options.extraProviders?.(providerDeps) ?? [])]);
  const rotationRunner = createRotationRunner({
    db,
    envelope,
    registry: providers,
    http: createGuardedHttp({ allow, timeoutMs: config.webhooks.timeoutMs }),
    readCache,
    clock,
    logger,
  });
  const secretRotations = createSecretRotationService({ db, envelope, registry: providers, runner: rotationRunner, readCache, clock, allow, logger });
  const auditWriter = createAuditWriter({ db, logger, maxBatch: config.readPath.auditBatchMax });
  const secrets = createSecretsService({
    db,
    envelope,
    clock,
    access,
    rotation: createRotationLinks(),
    providerRotation: secretRotations.providerRotation,
    cache: readCache,
    cachedRowChecks: f.database.kind === "postgres" ? createStampChecker(db) : undefined,
    auditWriter,
    softDeleteRetentionSeconds: config.softDeleteRetentionSeconds,
    directory: f.directory,
    listCountLimit: config.listCountLimit,
    batchPutMaxItems: config.batchPutMaxItems,
  });
  const rotationEngine = createRotationEngine({ envelope });
  // Rotation policies hand their provider-bound secrets to provider rotation through this port.
  const providerRuns = createPolicyRuns({
    waitsForSuppliedValue: (binding) => providers.get(binding.provider)?.supplied?.required(binding.config ?? {}) ?? false,
    secretRotations,
  });
  const rotationPolicies = createRotationService({ db, envelope, engine: rotationEngine, readCache, clock, providerRuns });
  const secretPolicies = createSecretPoliciesService({ db, clock });
  const metrics = createMetrics({
    readCache: () => ({ ...readCache.stats(), entries: readCache.size() }),
    pool: f.database.poolStats,
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
    providerRuns,
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
  const purgeJob = new Cron(config.purgeCron, { protect: true }, async () => {
    try {
      const purged = await secrets.purgeExpiredDeletes();
      if (purged > 0) logger.info("purged soft-deleted secrets past retention", { purged });
    } catch (err) {
      logger.error("purge job failed", { err });
    }
  });
  async function stop() {
    purgeJob.stop();
    await scheduler.stop();
    await rotationRunner.stop();
    await expiryWarnings.stop();
  }
  return { access, auditWriter, providers, rotationRunner, secretRotations, secrets, rotationPolicies, secretPolicies, metrics, scheduler, expiryWarnings, stop };
}

/** Webhooks, notification channels and the watch stream: everything that tells others of a change. */
async function createEventFeatures(f: Foundation) {
  const { config, db, envelope, clock, logger, allow } = f;
  const webhooks = createWebhooksService({ db, envelope, clock, allow });
  const webhookSender = createWebhookSender({ timeoutMs: config.webhooks.timeoutMs, allow });
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
    allow,
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
  const watchHub = createWatchHub({ db, listen: f.database.listen, logger });
  await watchHub.start();
  const watch = createWatchService({
    db,
    clock,
    hub: watchHub,
    maxStreamsPerTenant: config.watch.maxStreamsPerTenant,
    heartbeatMs: config.watch.heartbeatMs,
  });
  async function stop() {
    await webhookDelivery.stop();
    await notificationWorker.stop();
  }
  return { webhooks, webhookDelivery, notificationChannels, notificationWorker, watchHub, watch, stop };
}

type SecretFeatures = ReturnType<typeof createSecretFeatures>;
type EventFeatures = Awaited<ReturnType<typeof createEventFeatures>>;

/** The one port: every service's handler behind the interceptors, the Vault dialect, docs, console and metrics. */
async function createTransport(f: Foundation, s: SecretFeatures, e: EventFeatures) {
  const { config, db, clock, logger, database, directory } = f;
  const metricsRoute = {
    method: "GET",
    path: "/metrics",
    handle: async () => new Response(await s.metrics.render(), { headers: { "content-type": s.metrics.registry.contentType } }),
  };
  const metricsServer = config.metrics.mode === "own-port" ? await startMetricsServer({ metrics: s.metrics, host: config.host, port: config.metrics.port }) : undefined;

  const state = { shuttingDown: false, drained: false };
  // Its own short deadline: a database that does not answer makes this replica not ready at once.
  const ready = async () => !state.shuttingDown && (await database.ping(config.readyTimeoutMs));
  const authDeps = { verifier: f.verifier, directory, db, clock, logger };
  const vaultDialect = createVaultDialect({
    ...authDeps,
    mounts: config.vaultMounts,
    secrets: s.secrets,
    kv: createVaultKvService({ db, clock }),
    versions: createVersionLifecycle({ db, clock, cache: f.readCache }),
    ready: () => ready().then((ok) => ok && !state.drained),
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
      state.drained = true;
      void e.watchHub.close();
    },
    extraRoutes: [...createApiDocsRoutes({ services: () => app.services }), ...(config.metrics.mode === "service-port" ? [metricsRoute] : []), ...createConsoleRoutes()],
    // The text guard runs inside the auth interceptor, so a refused request is audited like any failed call.
    interceptors: [createMetricsInterceptor(s.metrics), createAuthInterceptor(authDeps), createTextGuardInterceptor()],
    ready,
    dialect: vaultDialect,
    routes: (router) => {
      router.service(SecretsService, createSecretsHandler(s.secrets));
      router.service(AuditService, createAuditHandler(db));
      // One API, two features: rotation policies and provider rotation each serve their own methods.
      router.service(RotationService, { ...createPolicyHandler(s.rotationPolicies), ...createBindingHandler(s.secretRotations) });
      router.service(SecretPolicyService, createSecretPoliciesHandler(s.secretPolicies));
      router.service(WebhookService, createWebhooksHandler(e.webhooks));
      router.service(WatchService, createWatchHandler(e.watch));
      router.service(NotificationChannelService, createNotificationChannelsHandler(e.notificationChannels));
      router.service(TenantService, createTenantsHandler({ db, clock, changed: (tenantId) => directory.forget(tenantId) }));
    },
  });
  return { app, metricsServer, state };
}

/** The one composition root: foundation → features (stores, services, jobs) → transport. */
export async function createScaiVault(options: ScaiVaultOptions) {
  const foundation = await openFoundation(options);
  const { db, database, readCache, logger, masterKey, config, clock } = foundation;
  const features = createSecretFeatures(foundation, options);
  const events = await createEventFeatures(foundation);
  const retention = createRetentionJob({ db, clock, logger, retention: config.retention });
  retention.start();
  const { app, metricsServer, state } = await createTransport(foundation, features, events);
  const { access, auditWriter, secrets, rotationPolicies, secretPolicies, scheduler, rotationRunner, secretRotations, providers, metrics, expiryWarnings } = features;
  const { webhooks, webhookDelivery, watchHub, notificationChannels, notificationWorker } = events;

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
      state.shuttingDown = true;
      await retention.stop();
      await metricsServer?.close();
      await features.stop();
      await events.stop();
      await access.close();
      await watchHub.close();
      await auditWriter.drain();
      logger.info("read audit group commit", auditWriter.stats());
      await foundation.stopListening();
      await database.close();
    },
  };
}

export type ScaiVault = Awaited<ReturnType<typeof createScaiVault>>;
