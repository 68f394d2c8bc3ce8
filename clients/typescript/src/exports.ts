// What both entries (Node and web) export besides their own `createScaiVaultClient`.
export { createScaiVaultClientWithTransport, type ClientOptions, type ScaiVaultClient, type TokenSource } from "./client.js";
export { type Clock, type SecretCache, type SecretCacheOptions } from "./cache.js";
export { ScaiVaultError, isScaiVaultError, type ScaiVaultErrorCode } from "./errors.js";
export type {
  GetSecretOptions,
  HelperCallOptions,
  ListSecretsOptions,
  PutSecretOptions,
  PutSecretResult,
  SecretHelpers,
  SecretSummary,
  SecretType,
  SecretValue,
  SecretsClient,
} from "./secrets.js";
export type { SecretChange, WatchOptions } from "./watch.js";
export type { ConfigureRotationOptions, RotationHelpers, RotationProviderName } from "./rotation.js";
export { verifyWebhook, type VerifyWebhookOptions, type WebhookEvent, type WebhookHeaders } from "./webhooks.js";
// The generated API: services, message types and their schemas (for `create`, `toJson`, ...).
export * from "./gen/scaivault/v1/audit_pb.js";
export * from "./gen/scaivault/v1/common_pb.js";
export * from "./gen/scaivault/v1/rotation_pb.js";
export * from "./gen/scaivault/v1/secret_policies_pb.js";
export * from "./gen/scaivault/v1/secrets_pb.js";
export * from "./gen/scaivault/v1/tenants_pb.js";
export * from "./gen/scaivault/v1/webhooks_pb.js";
export * from "./gen/scaivault/v1/watch_pb.js";
export * from "./gen/scaivault/v1/notifications_pb.js";
