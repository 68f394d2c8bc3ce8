// An outbox event as it leaves the service: the JSON body webhooks receive, and what
// notification messages are written from.

/** The JSON body receivers get: `{id, event_type, created_at, tenant_id, path, data}`. */
export interface WebhookEnvelope {
  id: string;
  event_type: string;
  created_at: string;
  tenant_id: string;
  path: string | null;
  data: Record<string, unknown>;
}

/** Builds the envelope of an outbox event (its `data` never holds a secret value). */
export function webhookEnvelope(event: { id: string; event_type: string; created_at: Date; tenant_id: string; path: string | null; data: unknown }): WebhookEnvelope {
  const data = typeof event.data === "string" ? JSON.parse(event.data) : event.data;
  return {
    id: event.id,
    event_type: event.event_type,
    created_at: rfc3339(event.created_at),
    tenant_id: event.tenant_id,
    path: event.path,
    data: (data ?? {}) as Record<string, unknown>,
  };
}

/** RFC 3339 UTC, without a fraction when there is none (`2026-04-23T14:00:00Z`). */
function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.000Z$/, "Z");
}
