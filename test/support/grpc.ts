import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";

const protoRoot = fileURLToPath(new URL("../../proto", import.meta.url));

/** Loads a ScaiVault service from the .proto files with @grpc/proto-loader: an independent gRPC client. */
export function grpcClient(port: number, service: "SecretsService" | "RotationService" | "AuditService" | "SecretPolicyService" | "WebhookService" | "NotificationChannelService", file: string) {
  const def = protoLoader.loadSync(`scaivault/v1/${file}`, {
    includeDirs: [protoRoot],
    keepCase: true,
    longs: Number,
    defaults: false,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as any;
  const Ctor = pkg.scaivault.v1[service];
  return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
}

/** Calls a unary method with a bearer token; resolves the response or rejects with the ServiceError. */
export function unary<T = any>(client: any, method: string, request: unknown, token?: string): Promise<T> {
  const md = new grpc.Metadata();
  if (token) md.set("authorization", `Bearer ${token}`);
  return new Promise((resolve, reject) => {
    client[method](request, md, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

/** Reads the contract code out of a gRPC error's google.rpc.Status details (ErrorInfo reason). */
export function reasonOf(err: grpc.ServiceError): string | undefined {
  const bin = err.metadata?.get("grpc-status-details-bin")?.[0];
  if (!bin) return undefined;
  // ErrorInfo.reason is a short ASCII string right after the type URL; decode the Status properly.
  return decodeReason(Buffer.isBuffer(bin) ? bin : Buffer.from(bin as string, "base64"));
}

function decodeReason(status: Buffer): string | undefined {
  // google.rpc.Status { code=1, message=2, details=3 (Any { type_url=1, value=2 }) }; ErrorInfo { reason=1 }
  const fields = readFields(status);
  for (const detail of fields.filter((f) => f.no === 3)) {
    const any = readFields(detail.bytes!);
    const typeUrl = any.find((f) => f.no === 1)?.bytes?.toString();
    if (typeUrl?.endsWith("google.rpc.ErrorInfo")) {
      const info = readFields(any.find((f) => f.no === 2)!.bytes!);
      return info.find((f) => f.no === 1)?.bytes?.toString();
    }
  }
  return undefined;
}

function readFields(buf: Buffer): { no: number; bytes?: Buffer }[] {
  const out: { no: number; bytes?: Buffer }[] = [];
  let i = 0;
  const varint = () => {
    let r = 0;
    let s = 0;
    for (;;) {
      const b = buf[i++]!;
      r += (b & 0x7f) * 2 ** s;
      if (b < 0x80) return r;
      s += 7;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const no = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      varint();
      out.push({ no });
    } else if (wire === 2) {
      const len = varint();
      out.push({ no, bytes: buf.subarray(i, i + len) });
      i += len;
    } else if (wire === 5) i += 4;
    else if (wire === 1) i += 8;
    else break;
  }
  return out;
}
