import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import type { Logger } from "../log.js";
import { eventStreamErrorFrame, restErrorAnswer } from "./error-edge.js";
import { jsonOptions } from "./json-options.js";
import type { DirectStream } from "./stream-invoker.js";

// A server-streaming method over REST is Server-Sent Events: each message is one `data:` line of
// its snake_case JSON, with `id:` set from its `event_id` field, so a browser's EventSource (or
// any SSE client) resumes by sending `Last-Event-ID`, which the transcoder hands to the request's
// `cursor` field. A message without an event id is a keep-alive and goes out as a comment line.

const encoder = new TextEncoder();

/** The request field that `Last-Event-ID` fills, when the method's request has it. */
export const resumeField = "cursor";

/**
 * Answers with the stream: the status waits for the first message, so that errors found when the
 * stream opens (auth, bad input, limits) are ordinary JSON errors with their HTTP status; an error
 * later in the stream is an `event: error` with the same JSON, and the stream ends.
 */
export async function eventStreamResponse(stream: DirectStream, output: DescMessage, requestId: string, logger: Logger): Promise<UniversalServerResponse> {
  const iterator = stream.messages[Symbol.asyncIterator]();
  let first: IteratorResult<MessageShape<DescMessage>>;
  try {
    first = await iterator.next();
  } catch (err) {
    return restErrorAnswer(err, requestId);
  }
  const header = new Headers({
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    // Proxies that buffer responses (nginx) would hold the events back.
    "x-accel-buffering": "no",
  });
  async function* frames(): AsyncGenerator<Uint8Array> {
    let result = first;
    try {
      while (!result.done) {
        yield encoder.encode(frameOf(output, result.value));
        result = await iterator.next();
      }
    } catch (err) {
      const { code, frame } = eventStreamErrorFrame(err, requestId);
      logger.debug("event stream ended with an error", { requestId, code });
      yield encoder.encode(frame);
    } finally {
      await iterator.return?.();
    }
  }
  return { status: 200, header, body: frames() };
}

function frameOf(output: DescMessage, message: MessageShape<DescMessage>): string {
  const json = toJson(output, message, jsonOptions) as Record<string, unknown>;
  const id = typeof json.event_id === "string" ? json.event_id : "";
  if (id === "") return `: ${typeof json.event_type === "string" ? json.event_type : "keep-alive"}\n\n`;
  return `id: ${id}\ndata: ${JSON.stringify(json)}\n\n`;
}
