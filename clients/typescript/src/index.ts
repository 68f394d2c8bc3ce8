import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { createScaiVaultClientWithTransport, type ClientOptions, type ScaiVaultClient } from "./client.js";
import { ScaiVaultError } from "./errors.js";

// The Node.js entry: connect-node transports, so all three protocols work (gRPC needs HTTP/2,
// which browsers cannot speak; they use `@scaivault/client/web`).

export * from "./exports.js";

/** How a Node.js client reaches the service. */
export type ScaiVaultClientOptions = ClientOptions & {
  /** The service's URL, e.g. `http://localhost:8080` (every protocol is served on one port). */
  baseUrl: string;
  /** `connect` (default), `grpc` (always HTTP/2) or `grpc-web`. */
  protocol?: "connect" | "grpc" | "grpc-web";
  /** HTTP version of `connect` and `grpc-web` (default `1.1`; `2` multiplexes calls on one connection). */
  httpVersion?: "1.1" | "2";
  /** Protobuf binary on the wire (default); `false` sends Connect JSON, handy when reading traffic. */
  useBinaryFormat?: boolean;
};

/** Creates typed clients for every ScaiVault service over connect-node. */
export function createScaiVaultClient(options: ScaiVaultClientOptions): ScaiVaultClient {
  const { transport, close } = nodeTransport(options);
  return createScaiVaultClientWithTransport(transport, { ...options, close });
}

function nodeTransport(options: ScaiVaultClientOptions): { transport: Transport; close: () => void } {
  const protocol = options.protocol ?? "connect";
  const { baseUrl } = options;
  const useBinaryFormat = options.useBinaryFormat ?? true;
  // Unknown fields from a newer server are skipped rather than failing the call.
  const jsonOptions = { ignoreUnknownFields: true };
  if (protocol !== "connect" && protocol !== "grpc" && protocol !== "grpc-web") {
    throw new ScaiVaultError("invalid_request", `ScaiVault client: unknown protocol "${String(protocol)}"`);
  }
  if (protocol === "grpc" || options.httpVersion === "2") {
    const sessionManager = new Http2SessionManager(baseUrl);
    const common = { baseUrl, httpVersion: "2" as const, sessionManager, jsonOptions };
    const transport =
      protocol === "grpc"
        ? createGrpcTransport(common)
        : protocol === "grpc-web"
          ? createGrpcWebTransport({ ...common, useBinaryFormat })
          : createConnectTransport({ ...common, useBinaryFormat });
    return { transport, close: () => sessionManager.abort() };
  }
  const agent = new URL(baseUrl).protocol === "https:" ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const common = { baseUrl, httpVersion: "1.1" as const, nodeOptions: { agent }, useBinaryFormat, jsonOptions };
  const transport = protocol === "grpc-web" ? createGrpcWebTransport(common) : createConnectTransport(common);
  return { transport, close: () => agent.destroy() };
}
