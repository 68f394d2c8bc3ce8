import type { ColumnType, Generated } from "kysely";

/** Timestamps are written as Date and read as Date. */
type Timestamp = ColumnType<Date, Date | string, Date | string>;

/** A tenant's data keys, wrapped by the master key; the newest key encrypts new versions. */
export interface DataKeysTable {
  tenant_id: string;
  key_id: number;
  wrapped_key: Uint8Array;
  master_key_id: string;
  created_at: Generated<Timestamp>;
}

/** One secret at one path of one owner (a tenant, or `partner:<id>` for partner secrets). */
export interface SecretsTable {
  id: Generated<number>;
  tenant_id: string;
  path: string;
  secret_type: string;
  description: string | null;
  tags: string[];
  owner: string | null;
  max_versions: number;
  expires_at: Timestamp | null;
  rotation_policy_id: string | null;
  secret_policy_id: string | null;
  current_version: number;
  created_at: Timestamp;
  updated_at: Timestamp;
  deleted_at: Timestamp | null;
  purge_after: Timestamp | null;
  last_accessed_at: Timestamp | null;
  /** Vault's `custom_metadata` (migration 0070): a string map, at most 64 keys. */
  custom_metadata: ColumnType<Record<string, string>, Record<string, string> | string | undefined, Record<string, string> | string>;
  /** Every write must carry check-and-set (migration 0070). */
  cas_required: ColumnType<boolean, boolean | undefined, boolean>;
  /** A version stops being readable this long after it was written; null = never (migration 0070). */
  delete_version_after_seconds: ColumnType<number | null, number | null | undefined, number | null>;
}

/** One version of a secret: only ciphertext, bound by AAD to tenant, path and version. */
export interface SecretVersionsTable {
  secret_id: number;
  version: number;
  key_id: number;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
  created_at: Timestamp;
  created_by: string;
  /** End of a rotation's grace period; null = no limit. */
  readable_until: Timestamp | null;
  /** Provider rotation (migration 0020): `pending` (not yet promoted), `discarded` or `revoked`; null otherwise. */
  rotation_state: ColumnType<string | null, string | null | undefined, string | null>;
  /** A version's own soft delete (migration 0070), undone by undelete; null = not deleted. */
  deleted_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** When the version was destroyed (migration 0070): its ciphertext is wiped, the row kept for its history. */
  destroyed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** What the provider that issued the version said about it (migration 0120): a string map, or null. */
  provider_metadata: ColumnType<Record<string, string> | null, Record<string, string> | string | null | undefined, string | null>;
}

/** Reads per secret per day, for `access_count_30d`. */
export interface SecretAccessDailyTable {
  secret_id: number;
  day: string;
  count: number;
}

/** Which partner a tenant belongs to, as asserted by the tenant's own verified tokens. */
export interface TenantPartnersTable {
  tenant_id: string;
  partner_id: string;
  seen_at: Timestamp;
}

/** The append-only audit log. */
export interface AuditEventsTable {
  id: Generated<number>;
  time: Timestamp;
  request_id: string;
  actor: string;
  acting_tenant: string;
  target_tenant: string;
  action: string;
  path: string | null;
  version: number | null;
  outcome: string;
  client_address: string | null;
  /** The `x-request-id` the client sent, kept for correlation; `request_id` is always the service's own. */
  client_request_id: Generated<string | null>;
}

/** The tenant registry: which partner a tenant belongs to, managed by operators. */
export interface TenantsTable {
  tenant_id: string;
  partner_id: string;
  display_name: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** Rotation policies. */
export interface RotationPoliciesTable {
  tenant_id: string;
  id: string;
  name: string;
  description: string | null;
  /** Null when the policy runs on a `schedule` instead (migration 0030): exactly one of the two is set. */
  interval: string | null;
  interval_seconds: number | null;
  grace_period: string;
  grace_period_seconds: number;
  warn_before: string | null;
  /** The warn_before thresholds in seconds (migration 0002), for the scheduler's claim query. */
  warn_before_seconds: number[];
  auto_generate: boolean;
  secret_policy_id: string | null;
  webhook_ids: string[];
  is_active: boolean;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** A 5-field cron expression evaluated in `timezone` (migration 0030); null for interval policies. */
  schedule: string | null;
  /** IANA zone of the schedule; null for interval policies. */
  timezone: string | null;
  /** How long after each scheduled time a rotation may start; null = no limit (only with a schedule). */
  rotation_window: string | null;
  rotation_window_seconds: number | null;
}

/** A secret assigned to a rotation policy, with its schedule state. */
export interface RotationAssignmentsTable {
  tenant_id: string;
  policy_id: string;
  secret_id: number;
  secret_path: string;
  assigned_at: Timestamp;
  last_rotated_at: Timestamp | null;
  next_rotation_at: Timestamp;
  /** Rotation cycle counter: the fencing token a rotation commit must still match. */
  cycle: number;
  /** Warnings already sent this cycle, as warn_before seconds. */
  warned: number[];
  attempts: number;
  retry_at: Timestamp | null;
  claimed_until: Timestamp | null;
  /** The window of the next rotation of a scheduled policy (migration 0030); null for interval policies. */
  window_opens_at: Timestamp | null;
  /** When that window closes; null when the policy has no rotation_window. */
  window_closes_at: Timestamp | null;
}

/** One rotation attempt. */
export interface RotationHistoryTable {
  tenant_id: string;
  id: string;
  seq: Generated<number>;
  /** Null for a per-secret rotation of a secret without a policy. */
  policy_id: string | null;
  secret_id: number | null;
  secret_path: string;
  status: string;
  old_version: number | null;
  new_version: number | null;
  rotated_at: Timestamp;
  rotated_by: string;
  reason: string | null;
  error: string | null;
}

/** Value-generation policies. */
export interface SecretPoliciesTable {
  tenant_id: string;
  id: string;
  name: string;
  description: string | null;
  length: number;
  charset: string;
  chars: string | null;
  require_uppercase: boolean;
  require_lowercase: boolean;
  require_digits: boolean;
  require_symbols: boolean;
  exclude_chars: string | null;
  fields: string[];
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** The transactional outbox of events; never holds a secret value. */
export interface EventsTable {
  seq: Generated<number>;
  id: string;
  tenant_id: string;
  event_type: string;
  path: string | null;
  policy_id: string | null;
  data: unknown;
  created_at: Timestamp;
  /** Set when the event was fanned out to webhook deliveries (migration 0003). */
  dispatched_at: Timestamp | null;
}

/** Webhook endpoints; the signing secret is stored encrypted. */
export interface WebhooksTable {
  tenant_id: string;
  id: string;
  name: string;
  url: string;
  events: string[];
  is_active: boolean;
  secret_key_id: number;
  secret_nonce: Uint8Array;
  secret_ciphertext: Uint8Array;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** One event to one webhook: the delivery queue. */
export interface WebhookDeliveriesTable {
  id: Generated<number>;
  tenant_id: string;
  webhook_id: string;
  event_id: string;
  state: string;
  attempts: number;
  next_attempt_at: Timestamp;
  claimed_until: Timestamp | null;
  created_at: Timestamp;
}

/** Each attempt of a delivery. */
export interface WebhookAttemptsTable {
  id: Generated<number>;
  delivery_id: number;
  tenant_id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  attempt: number;
  attempted_at: Timestamp;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  next_retry_at: Timestamp | null;
  state: string;
}

/** Email and Slack channels (migration 0040); a Slack URL is stored sealed. */
export interface NotificationChannelsTable {
  tenant_id: string;
  id: string;
  name: string;
  type: string;
  recipients: string[];
  url_key_id: number | null;
  url_nonce: Uint8Array | null;
  url_ciphertext: Uint8Array | null;
  events: string[];
  policy_ids: string[];
  is_active: boolean;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** A secret's binding to the provider that issues its credential (migration 0020). */
export interface SecretRotationsTable {
  tenant_id: string;
  secret_id: number;
  path: string;
  provider: string;
  config: ColumnType<Record<string, unknown>, string, string>;
  /** The write-only provider credentials, sealed under the tenant's data key (null: none given). */
  credentials_key_id: number | null;
  credentials_nonce: Uint8Array | null;
  credentials_ciphertext: Uint8Array | null;
  policy_id: string | null;
  grace_period: string | null;
  grace_period_seconds: number | null;
  propagation_check: ColumnType<PropagationCheckJson | null, string | null, string | null>;
  max_attempts: number;
  status: string;
  paused_at: Timestamp | null;
  last_rotated_at: Timestamp | null;
  last_run_id: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** The binding's own schedule (migration 0080), instead of a policy's: an interval, or a cron schedule in a zone. */
  interval: ColumnType<string | null, string | null | undefined, string | null>;
  interval_seconds: ColumnType<number | null, number | null | undefined, number | null>;
  schedule: ColumnType<string | null, string | null | undefined, string | null>;
  timezone: ColumnType<string | null, string | null | undefined, string | null>;
  rotation_window: ColumnType<string | null, string | null | undefined, string | null>;
  rotation_window_seconds: ColumnType<number | null, number | null | undefined, number | null>;
  /** When the binding's own schedule next starts a run; null without one. */
  next_rotation_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  window_closes_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** Bumped by every scheduled start: the fence of the binding's schedule. */
  schedule_cycle: ColumnType<number, number | undefined, number>;
}

/** One event to one notification channel: the queue. */
export interface NotificationDeliveriesTable {
  id: Generated<number>;
  tenant_id: string;
  channel_id: string;
  event_id: string;
  state: string;
  attempts: number;
  next_attempt_at: Timestamp;
  claimed_until: Timestamp | null;
  created_at: Timestamp;
}

/** Each attempt of a notification delivery. */
export interface NotificationAttemptsTable {
  id: Generated<number>;
  delivery_id: number;
  tenant_id: string;
  channel_id: string;
  event_id: string;
  event_type: string;
  attempt: number;
  attempted_at: Timestamp;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  next_retry_at: Timestamp | null;
  state: string;
}

/** A binding's propagation check as stored. */
export interface PropagationCheckJson {
  url: string;
  expected_status: number;
  timeout_seconds: number;
}

/** One recorded step attempt of a rotation run. */
export interface RunStepJson {
  step: string;
  status: string;
  attempt: number;
  at: string;
  detail: string;
}

/** One provider rotation of one secret: a persisted state machine (migration 0020). */
export interface RotationRunsTable {
  seq: Generated<number>;
  tenant_id: string;
  id: string;
  secret_id: number;
  path: string;
  provider: string;
  policy_id: string | null;
  triggered_by: string;
  actor: string;
  status: string;
  step: string;
  attempts: number;
  old_version: number | null;
  new_version: number | null;
  /** When the issued credential stops working, as the provider said: the secret's expires_at at promote. */
  new_expires_at: Timestamp | null;
  revoke_at: Timestamp | null;
  provider_response: string | null;
  error: string | null;
  steps: ColumnType<RunStepJson[], string, string>;
  started_at: Timestamp;
  finished_at: Timestamp | null;
  next_attempt_at: Timestamp;
  claimed_until: Timestamp | null;
  /** Bumped by every claim: a step's commit must still see the fence its worker claimed with. */
  fence: number;
  /** The operator's new value of a manual rotate (migration 0060), sealed; cleared once the create step or the run ends. */
  supplied_key_id: ColumnType<number | null, number | null | undefined, number | null>;
  supplied_nonce: ColumnType<Uint8Array | null, Uint8Array | null | undefined, Uint8Array | null>;
  supplied_ciphertext: ColumnType<Uint8Array | null, Uint8Array | null | undefined, Uint8Array | null>;
  /** An emergency rotation (migration 0080): it revokes a credential still in an earlier grace period first. */
  emergency: ColumnType<boolean, boolean | undefined, boolean>;
  /** The operator's reason of a manual rotation. */
  reason: ColumnType<string | null, string | null | undefined, string | null>;
  /** The grace period the rotate call asked for, overriding the binding's for this run. */
  grace_seconds: ColumnType<number | null, number | null | undefined, number | null>;
  /** The secret's expires_at before promote: what a rollback restores. */
  old_expires_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** What the provider said about the credential it issued (migration 0120), as on the new version. */
  new_metadata: ColumnType<Record<string, string> | null, string | null | undefined, string | null>;
}

/** A `secret.expiring` warning recorded (sent, or passed over for a nearer one crossed at once): one per secret, expiry and threshold. */
export interface SecretExpiryWarningsTable {
  secret_id: number;
  expires_at: Timestamp;
  threshold_seconds: number;
  recorded_at: Timestamp;
}

/** The whole schema, as Kysely sees it. */
export interface Database {
  data_keys: DataKeysTable;
  secrets: SecretsTable;
  secret_versions: SecretVersionsTable;
  secret_access_daily: SecretAccessDailyTable;
  audit_events: AuditEventsTable;
  tenant_partners: TenantPartnersTable;
  tenants: TenantsTable;
  rotation_policies: RotationPoliciesTable;
  rotation_assignments: RotationAssignmentsTable;
  rotation_history: RotationHistoryTable;
  secret_policies: SecretPoliciesTable;
  events: EventsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  notification_channels: NotificationChannelsTable;
  notification_deliveries: NotificationDeliveriesTable;
  notification_attempts: NotificationAttemptsTable;
  secret_rotations: SecretRotationsTable;
  rotation_runs: RotationRunsTable;
  secret_expiry_warnings: SecretExpiryWarningsTable;
}
