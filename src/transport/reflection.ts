import {
  create,
  createRegistry,
  fromBinary,
  toBinary,
  type DescFile,
  type DescService,
  type MessageInitShape,
  type Registry,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

type Answer = MessageInitShape<typeof v1.ServerReflectionResponseSchema>;

/** gRPC status codes used in reflection's in-band ErrorResponse. */
const notFound = 5;
const unimplemented = 12;

/**
 * Registers `grpc.reflection.v1.ServerReflection` and its `v1alpha` twin (grpcurl, grpcui,
 * Postman and `buf curl --reflect` use one or the other). The descriptors are the generated
 * ones, so reflection always describes exactly what is served. Public, like health.
 * `extraFiles` are described too though no service uses them: the error detail types
 * (google.rpc.ErrorInfo, google.rpc.Status), so generic clients decode error details.
 * Bidirectional streaming needs HTTP/2 (gRPC, or Connect/gRPC-web over h2).
 */
export function createReflectionRoutes(services: () => readonly DescService[], extraFiles: readonly DescFile[] = []): (router: ConnectRouter) => void {
  // Built on first use: by then every service of the app is registered.
  let index: ReflectionIndex | undefined;
  const indexed = () => (index ??= buildIndex(services(), extraFiles));

  return (router) => {
    router.service(v1.ServerReflection, {
      async *serverReflectionInfo(requests) {
        for await (const req of requests) yield create(v1.ServerReflectionResponseSchema, answer(indexed(), req));
      },
    });
    // v1alpha is wire-identical to v1: translate through the binary form instead of duplicating the logic.
    router.service(v1alpha.ServerReflection, {
      async *serverReflectionInfo(requests) {
        for await (const alphaReq of requests) {
          const req = fromBinary(v1.ServerReflectionRequestSchema, toBinary(v1alpha.ServerReflectionRequestSchema, alphaReq));
          const res = create(v1.ServerReflectionResponseSchema, answer(indexed(), req));
          yield fromBinary(v1alpha.ServerReflectionResponseSchema, toBinary(v1.ServerReflectionResponseSchema, res));
        }
      },
    });
  };
}

interface ReflectionIndex {
  services: string[];
  files: Map<string, DescFile>;
  registry: Registry;
}

function buildIndex(services: readonly DescService[], extraFiles: readonly DescFile[]): ReflectionIndex {
  const files = withImports([...services.map((s) => s.file), ...extraFiles]);
  return {
    services: [...new Set(services.map((s) => s.typeName))].sort(),
    files: new Map(files.map((f) => [f.proto.name, f])),
    registry: createRegistry(...files),
  };
}

function answer(index: ReflectionIndex, req: v1.ServerReflectionRequest): Answer {
  const reply = (messageResponse: Answer["messageResponse"]): Answer => ({ validHost: req.host, originalRequest: req, messageResponse });
  const error = (errorCode: number, errorMessage: string) => reply({ case: "errorResponse", value: { errorCode, errorMessage } });
  const files = (file: DescFile | undefined, what: string) =>
    file
      ? reply({ case: "fileDescriptorResponse", value: { fileDescriptorProto: withImports([file]).map(encode) } })
      : error(notFound, `${what} not found`);

  const { messageRequest: request } = req;
  switch (request.case) {
    case "listServices":
      return reply({ case: "listServicesResponse", value: { service: index.services.map((name) => ({ name })) } });
    case "fileByFilename":
      return files(index.files.get(request.value), "file");
    case "fileContainingSymbol":
      return files(fileOfSymbol(index.registry, request.value), "symbol");
    case "fileContainingExtension": {
      const extendee = index.registry.getMessage(request.value.containingType);
      const extension = extendee && index.registry.getExtensionFor(extendee, request.value.extensionNumber);
      return files(extension?.file, "extension");
    }
    case "allExtensionNumbersOfType": {
      if (!index.registry.getMessage(request.value)) return error(notFound, "type not found");
      const numbers = [...index.registry].flatMap((d) => (d.kind === "extension" && d.extendee.typeName === request.value ? [d.number] : []));
      return reply({ case: "allExtensionNumbersResponse", value: { baseTypeName: request.value, extensionNumber: numbers } });
    }
    default:
      return error(unimplemented, "unsupported reflection request");
  }
}

/** The file of a message, enum, service or extension, or of the parent of a method or field. */
function fileOfSymbol(registry: Registry, symbol: string): DescFile | undefined {
  return (registry.get(symbol) ?? registry.get(symbol.slice(0, Math.max(0, symbol.lastIndexOf(".")))))?.file;
}

/** The files and every file they import, transitively, each once; a requested file comes first (clients resolve its imports from the rest). */
function withImports(roots: readonly DescFile[]): DescFile[] {
  const all: DescFile[] = [];
  const visit = (file: DescFile) => {
    if (all.includes(file)) return;
    all.push(file);
    file.dependencies.forEach(visit);
  };
  roots.forEach(visit);
  return all;
}

const encoded = new WeakMap<DescFile, Uint8Array>();

function encode(file: DescFile): Uint8Array {
  let bytes = encoded.get(file);
  if (!bytes) encoded.set(file, (bytes = toBinary(FileDescriptorProtoSchema, file.proto)));
  return bytes;
}
