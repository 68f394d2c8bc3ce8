import type { Message } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate, type ListValue, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
import { callContextKey, type CallContext } from "./auth/principal.js";
import { ScaiVaultError } from "./errors.js";

// What every thin handler needs between the wire types and the services.

/** The authenticated call context; the auth interceptor guarantees it for every method with an access rule. */
export function callOf(ctx: HandlerContext): CallContext {
  const call = ctx.values.get(callContextKey);
  if (!call) throw new ScaiVaultError("unauthenticated", "missing bearer token");
  return call;
}

/** Replies that created what they describe; REST answers them 201 Created. */
const createdReplies = new WeakSet<Message>();

/**
 * Marks a handler's reply as the description of something it created (REST answers it with 201,
 * the RPC protocols see no difference). A message, not a plain object: Connect passes messages
 * through unchanged, so the mark is still there when the transport reads the reply.
 */
export function asCreated<T extends Message>(reply: T): T {
  createdReplies.add(reply);
  return reply;
}

/** Whether a reply was marked by `asCreated`. */
export function isCreated(reply: Message): boolean {
  return createdReplies.has(reply);
}

/** Optional timestamp field → Date. */
export function dateOf(ts: Timestamp | undefined): Date | undefined {
  return ts ? timestampDate(ts) : undefined;
}

/** Optional Date → timestamp field. */
export function tsOf(date: Date | null | undefined): Timestamp | undefined {
  return date ? timestampFromDate(date) : undefined;
}

/** A `google.protobuf.ListValue` list-of-strings field of a patch request → string[] (undefined when absent). */
export function stringListOf(list: ListValue | undefined, field: string): string[] | undefined {
  if (!list) return undefined;
  return list.values.map((v) => {
    if (v.kind.case !== "stringValue") throw new ScaiVaultError("invalid_request", `${field} must be a list of strings`);
    return v.kind.value;
  });
}
