// IP addresses as the SSRF guard and the settings read them: every numeric IPv4 spelling
// (`127.1`, `0x7f000001`) and IPv6 (brackets and zone allowed). Pure; imports nothing.

/** An IP address as bytes (4 or 16). */
export interface IpAddress {
  family: 4 | 6;
  bytes: Uint8Array;
}

/**
 * Parses an IPv4 address in every form `inet_aton` and URL parsers accept (`127.1`,
 * `2130706433`, `0x7f000001`, `0177.0.0.1`) or an IPv6 address (brackets and zone allowed).
 * Undefined when the text is not an IP address (a host name).
 */
export function parseIpAddress(text: string): IpAddress | undefined {
  let t = text.trim();
  if (t.startsWith("[") && t.endsWith("]")) t = t.slice(1, -1);
  if (t.includes(":")) {
    const bytes = parseIpv6(t.replace(/%.*$/, ""));
    return bytes ? { family: 6, bytes } : undefined;
  }
  const bytes = parseIpv4Loose(t.endsWith(".") ? t.slice(0, -1) : t);
  return bytes ? { family: 4, bytes } : undefined;
}

function parseIpv4Part(part: string): number | undefined {
  if (/^0x[0-9a-f]*$/i.test(part)) return part.length === 2 ? 0 : parseInt(part.slice(2), 16);
  if (/^0[0-7]*$/.test(part)) return parseInt(part, 8);
  if (/^[1-9][0-9]*$/.test(part)) return Number(part);
  return undefined;
}

function parseIpv4Loose(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length < 1 || parts.length > 4) return undefined;
  const numbers: number[] = [];
  for (const part of parts) {
    const n = parseIpv4Part(part);
    if (n === undefined || !Number.isSafeInteger(n)) return undefined;
    numbers.push(n);
  }
  const last = numbers.pop()!;
  if (numbers.some((n) => n > 255)) return undefined;
  const lastBytes = 4 - numbers.length;
  if (last >= 256 ** lastBytes) return undefined;
  const bytes = new Uint8Array(4);
  numbers.forEach((n, i) => (bytes[i] = n));
  for (let i = 0; i < lastBytes; i++) bytes[3 - i] = Math.floor(last / 256 ** i) % 256;
  return bytes;
}

function parseIpv4Strict(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255)) return undefined;
  return Uint8Array.from(parts.map(Number));
}

function parseIpv6(text: string): Uint8Array | undefined {
  let head = text;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    const v4 = parseIpv4Strict(text.slice(lastColon + 1));
    if (!v4) return undefined;
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    head = text.slice(0, lastColon + 1);
    if (head.endsWith(":") && !head.endsWith("::")) head = head.slice(0, -1);
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const parse = (list: string[]) => list.map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16) : NaN));
  const left = parse(groups(halves[0]!));
  const right = halves.length === 2 ? parse(groups(halves[1]!)) : [];
  if ([...left, ...right].some(Number.isNaN)) return undefined;
  const total = left.length + right.length + tail.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  const words = [...left, ...new Array(8 - total).fill(0), ...right, ...tail];
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  return bytes;
}

/** IPv4-mapped IPv6 addresses compare as their IPv4 address. */
export function unmapped(ip: IpAddress): IpAddress {
  const b = ip.bytes;
  if (ip.family === 6 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return { family: 4, bytes: b.slice(12) };
  return ip;
}

export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  return h.endsWith(".") ? h.slice(0, -1) : h;
}

/** A CIDR range (a single address has the full prefix). */
export interface IpRange {
  ip: IpAddress;
  prefix: number;
}

/** Allow-list entries as plain values: normalized host names and address ranges. */
export interface AllowListEntries {
  hosts: Set<string>;
  ranges: IpRange[];
}

/** Parses allow-list entries (host names, IP addresses, CIDR ranges); throws on a malformed one. */
export function parseAllowListEntries(entries: readonly string[]): AllowListEntries {
  const hosts = new Set<string>();
  const ranges: IpRange[] = [];
  for (const raw of entries.map((e) => e.trim()).filter(Boolean)) {
    const [addr, prefixText, ...extra] = raw.split("/");
    const ip = parseIpAddress(addr!);
    if (ip) {
      const base = unmapped(ip);
      const max = base.family === 4 ? 32 : 128;
      const prefix = prefixText === undefined ? max : Number(prefixText);
      if (extra.length > 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) {
        throw new Error(`allow-list entry ${raw} is not an address, a CIDR range or a host name`);
      }
      ranges.push({ ip: base, prefix });
    } else if (prefixText === undefined && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/i.test(raw)) {
      hosts.add(normalizeHost(raw));
    } else {
      throw new Error(`allow-list entry ${raw} is not an address, a CIDR range or a host name`);
    }
  }
  return { hosts, ranges };
}
