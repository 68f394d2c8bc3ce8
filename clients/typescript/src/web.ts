import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { createScaiVaultClientWithTransport, type ClientOptions, type ScaiVaultClient } from "./client.js";
import { ScaiVaultError } from "./errors.js";

// The browser entry (also Deno, Bun, edge runtimes): fetch-based connect-web transports.
// Native gRPC needs HTTP/2 trailers that fetch cannot read, so it offers Connect and gRPC-web.

export * from "./exports.js";

/** How a browser client reaches the service. */
export type ScaiVaultWebClientOptions = ClientOptions & {
  /** The service's URL; it must allow your origin if it is another one. */
  baseUrl: string;
  /** `connect` (default) or `grpc-web`. */
  protocol?: "connect" | "grpc-web";
  /** Protobuf binary on the wire (default); `false` sends Connect JSON. */
  useBinaryFormat?: boolean;
  /** The fetch to use (default `globalThis.fetch`). */
  fetch?: typeof globalThis.fetch;
};

/** Creates typed clients for every ScaiVault service over fetch. */
export function createScaiVaultClient(options: ScaiVaultWebClientOptions): ScaiVaultClient {
  const protocol = options.protocol ?? "connect";
  if (protocol !== "connect" && protocol !== "grpc-web") {
    throw new ScaiVaultError("invalid_request", `ScaiVault web client: protocol "${String(protocol)}" is not available in browsers; use connect or grpc-web`);
  }
  const transportOptions = {
    baseUrl: options.baseUrl,
    useBinaryFormat: options.useBinaryFormat ?? true,
    jsonOptions: { ignoreUnknownFields: true },
    fetch: options.fetch,
  };
  const transport = protocol === "grpc-web" ? createGrpcWebTransport(transportOptions) : createConnectTransport(transportOptions);
  return createScaiVaultClientWithTransport(transport, options);
}
