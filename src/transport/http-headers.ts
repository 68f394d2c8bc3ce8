/** Request header naming the target tenant of a cross-tenant call (REST: `/v1/t/{tenant_id}/...`). */
export const targetTenantHeader = "x-scaivault-tenant";
/** Request and response header carrying the request id. */
export const requestIdHeader = "x-request-id";
