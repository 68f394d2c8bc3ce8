import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { SecretEventSchema, type WatchService as WatchServiceDesc } from "../../gen/scaivault/v1/watch_pb.js";
import { callOf, tsOf } from "../handler-support.js";
import type { WatchService } from "./watch-service.js";

/** Thin handler: the call, the service's stream, each event as a message. */
export function createWatchHandler(service: WatchService): ServiceImpl<typeof WatchServiceDesc> {
  return {
    async *watchSecrets(req, ctx) {
      for await (const event of service.watch(callOf(ctx), { prefix: req.prefix, cursor: req.cursor }, ctx.signal)) {
        yield create(SecretEventSchema, { ...event, createdAt: tsOf(event.createdAt) });
      }
    },
  };
}
