// The console's only way to the API: the generated TypeScript client (clients/typescript) over
// Connect on this origin. Types come from the generated code; none are declared here.
export { createScaiVaultClient } from "../../clients/typescript/src/web.js";
export type { ScaiVaultClient } from "../../clients/typescript/src/client.js";
export { ScaiVaultError, isScaiVaultError } from "../../clients/typescript/src/errors.js";
export type * from "../../clients/typescript/src/gen/scaivault/v1/secrets_pb.js";
export type * from "../../clients/typescript/src/gen/scaivault/v1/rotation_pb.js";
export type * from "../../clients/typescript/src/gen/scaivault/v1/webhooks_pb.js";
export type * from "../../clients/typescript/src/gen/scaivault/v1/secret_policies_pb.js";
export type * from "../../clients/typescript/src/gen/scaivault/v1/audit_pb.js";
export { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
export type { JsonObject, JsonValue } from "@bufbuild/protobuf";
