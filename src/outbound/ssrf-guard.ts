// The SSRF guard of webhook URLs: only public addresses are reachable unless the operator
// allow-lists a host or an address (SCAIVAULT_WEBHOOK_ALLOW_HOSTS). Classification is pure;
// the send-time `lookup` checks every resolved address and hands back only checked ones, so
// the connection goes to exactly the address that was checked (no DNS rebinding).
import dns from "node:dns";
import type { LookupFunction } from "node:net";
import { normalizeHost, parseAllowListEntries, parseIpAddress, unmapped, type IpAddress, type IpRange } from "../ip-address.js";

/** What an address is, for the guard: only `public` is reachable without the allow-list. */
export type AddressClass = "public" | "loopback" | "private" | "link-local" | "metadata" | "unspecified" | "multicast" | "reserved";

/** A webhook target refused by the guard (or a URL that is not a webhook URL); the message is safe to show. */
export class SsrfRefusedError extends Error {
  override readonly name = "SsrfRefusedError";
}

function classifyIpv4(b: Uint8Array): AddressClass {
  const [a, c] = [b[0]!, b[1]!];
  if (a === 0) return "unspecified";
  if (a === 127) return "loopback";
  if (a === 169 && c === 254) return b[2] === 169 && b[3] === 254 ? "metadata" : "link-local";
  if (a === 168 && c === 63 && b[2] === 129 && b[3] === 16) return "metadata"; // Azure wire server
  if (a === 10 || (a === 172 && (c & 0xf0) === 16) || (a === 192 && c === 168) || (a === 100 && (c & 0xc0) === 64)) return "private";
  if (a >= 224 && a <= 239) return "multicast";
  if (a >= 240) return "reserved";
  if ((a === 192 && c === 0 && (b[2] === 0 || b[2] === 2)) || (a === 198 && (c & 0xfe) === 18) || (a === 198 && c === 51 && b[2] === 100) || (a === 203 && c === 0 && b[2] === 113)) {
    return "reserved";
  }
  return "public";
}

const fdEc2Metadata = parseIpAddress("fd00:ec2::254")!.bytes;

function classifyIpv6(b: Uint8Array): AddressClass {
  const zeroUpTo = (n: number) => b.subarray(0, n).every((x) => x === 0);
  if (zeroUpTo(16)) return "unspecified";
  if (zeroUpTo(15) && b[15] === 1) return "loopback";
  // Addresses that carry an IPv4 address reach that address: judge the IPv4 one.
  if (zeroUpTo(10) && b[10] === 0xff && b[11] === 0xff) return classifyIpv4(b.subarray(12));
  if (zeroUpTo(12)) return classifyIpv4(b.subarray(12));
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b) {
    return b.subarray(4, 12).every((x) => x === 0) ? classifyIpv4(b.subarray(12)) : "private"; // NAT64, well-known and local-use
  }
  if (b[0] === 0x20 && b[1] === 0x02) return classifyIpv4(b.subarray(2, 6)); // 6to4
  if (b.every((x, i) => x === fdEc2Metadata[i])) return "metadata";
  if ((b[0]! & 0xfe) === 0xfc) return "private";
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return "link-local";
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0xc0) return "private"; // deprecated site-local
  if (b[0] === 0xff) return "multicast";
  if (b[0] === 0x20 && b[1] === 0x01 && ((b[2] === 0x0d && b[3] === 0xb8) || (b[2] === 0 && b[3] === 0))) return "reserved"; // documentation, Teredo
  if ((b[0]! & 0xe0) !== 0x20) return "reserved"; // outside global unicast 2000::/3
  return "public";
}

/** Classifies an IP address given in any accepted form; undefined when the text is not an IP address. */
export function classifyAddress(text: string): AddressClass | undefined {
  const ip = parseIpAddress(text);
  return ip ? classifyIp(ip) : undefined;
}

function classifyIp(ip: IpAddress): AddressClass {
  return ip.family === 4 ? classifyIpv4(ip.bytes) : classifyIpv6(ip.bytes);
}

/** Hosts and addresses (exact, or CIDR ranges) that the operator opened despite the guard. */
export interface AllowList {
  allowsHost(host: string): boolean;
  allowsAddress(ip: IpAddress): boolean;
}

/** The allow-list of SCAIVAULT_WEBHOOK_ALLOW_HOSTS entries: host names, IP addresses, CIDR ranges; throws on a malformed one. */
export function createAllowList(entries: readonly string[]): AllowList {
  const { hosts, ranges } = parseAllowListEntries(entries);
  const inRange = (ip: IpAddress, r: IpRange) => {
    if (ip.family !== r.ip.family) return false;
    for (let bit = 0; bit < r.prefix; bit++) {
      const mask = 0x80 >> bit % 8;
      if ((ip.bytes[bit >> 3]! & mask) !== (r.ip.bytes[bit >> 3]! & mask)) return false;
    }
    return true;
  };
  const allowsAddress = (ip: IpAddress) => ranges.some((r) => inRange(unmapped(ip), r));
  return {
    allowsAddress,
    allowsHost(host) {
      const h = normalizeHost(host);
      if (hosts.has(h)) return true;
      const ip = parseIpAddress(h);
      return ip ? allowsAddress(ip) : false;
    },
  };
}

/** True when a connection to this address is permitted: public, or allow-listed. */
export function isAddressAllowed(address: string | IpAddress, allow: AllowList): boolean {
  const ip = typeof address === "string" ? parseIpAddress(address) : address;
  if (!ip) return false;
  return allow.allowsAddress(ip) || classifyIp(ip) === "public";
}

function refusal(host: string, what: string): SsrfRefusedError {
  return new SsrfRefusedError(`url host ${host} is ${what}; webhooks reach public addresses only unless SCAIVAULT_WEBHOOK_ALLOW_HOSTS lists it`);
}

function article(c: AddressClass): string {
  return c === "unspecified" ? "an unspecified address" : `a ${c} address`;
}

/** Parses a webhook URL: absolute http(s), a host, no credentials; throws SsrfRefusedError with the reason. */
export function parseWebhookUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SsrfRefusedError("url must be an absolute http or https URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new SsrfRefusedError("url must use http or https");
  if (!url.hostname) throw new SsrfRefusedError("url must name a host");
  if (url.username || url.password) throw new SsrfRefusedError("url must not carry credentials; receivers authenticate deliveries by their signature");
  if (text.length > 2048) throw new SsrfRefusedError("url is over 2048 characters");
  return url;
}

/**
 * The checks that need no DNS: an allow-listed host passes; an IP literal (in any numeric form)
 * must be public or allow-listed; `localhost` names are loopback. Returns true when the host is
 * settled (allowed without resolving), false when it is a name still to be resolved.
 */
export function checkHostWithoutDns(url: URL, allow: AllowList): boolean {
  const host = normalizeHost(url.hostname);
  if (allow.allowsHost(host)) return true;
  const ip = parseIpAddress(host);
  if (ip) {
    if (isAddressAllowed(ip, allow)) return true;
    throw refusal(host, article(classifyIp(ip)));
  }
  if (host === "localhost" || host.endsWith(".localhost")) throw refusal(host, "a loopback name");
  return false;
}

/** Resolves a host name to every address it has. */
export type ResolveAll = (host: string) => Promise<string[]>;

/** The system resolver (getaddrinfo), every address. */
export const systemResolveAll: ResolveAll = async (host) => (await dns.promises.lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/**
 * The create/patch-time check: parse, check without DNS, then resolve and check every address.
 * A name that does not resolve (yet) is accepted here; the send-time lookup decides then.
 */
export async function checkWebhookUrl(text: string, allow: AllowList, resolve: ResolveAll = systemResolveAll, timeoutMs = 3000): Promise<URL> {
  const url = parseWebhookUrl(text);
  if (checkHostWithoutDns(url, allow)) return url;
  let addresses: string[];
  try {
    addresses = await withTimeout(resolve(normalizeHost(url.hostname)), timeoutMs);
  } catch {
    return url;
  }
  for (const address of addresses) {
    if (!isAddressAllowed(address, allow)) throw refusal(normalizeHost(url.hostname), `resolving to ${article(classifyAddress(address) ?? "reserved")}`);
  }
  return url;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("timeout")), ms)))]).finally(() => clearTimeout(timer));
}

type LookupAddress = { address: string; family: number };

/**
 * A `lookup` for `http.request` that resolves with the system resolver, refuses the connection
 * when any address is not allowed (unless the host itself is allow-listed), and hands back only
 * the addresses it checked, so the socket connects to a checked address.
 */
export function createGuardedLookup(allow: AllowList, resolve: typeof dns.lookup = dns.lookup): LookupFunction {
  return ((hostname: string, options: dns.LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    resolve(hostname, { ...options, all: true }, (err, found) => {
      if (err) return callback(err, "", 0);
      const addresses = found as unknown as LookupAddress[];
      if (!allow.allowsHost(hostname)) {
        const bad = addresses.find((a) => !isAddressAllowed(a.address, allow));
        if (bad) return callback(Object.assign(refusal(normalizeHost(hostname), `resolving to ${article(classifyAddress(bad.address) ?? "reserved")}`), { code: "ESSRF" }), "", 0);
      }
      if (addresses.length === 0) return callback(Object.assign(new Error(`${hostname} has no address`), { code: "ENOTFOUND" }), "", 0);
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  }) as LookupFunction;
}
