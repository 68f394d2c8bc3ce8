import type { JsonReadOptions, JsonWriteOptions } from "@bufbuild/protobuf";

/**
 * The one JSON mapping of ScaiVault, shared by REST and Connect so that both render the same
 * document: snake_case names as in the guides, implicit fields (`has_more: false`,
 * `created: false`, empty lists) always present, and unknown request fields rejected
 * (a mass-assignment guard) instead of silently dropped.
 */
export const jsonOptions: Readonly<Partial<JsonReadOptions & JsonWriteOptions>> = Object.freeze({
  useProtoFieldName: true,
  alwaysEmitImplicit: true,
  ignoreUnknownFields: false,
});
