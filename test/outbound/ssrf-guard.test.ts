// Pure tests of the SSRF guard: no packet leaves the process. The resolver is always a fake;
// only IP literals and `localhost` appear, and nothing here opens a socket.
import type dns from "node:dns";
import { describe, expect, it } from "vitest";
import {
  checkHostWithoutDns,
  checkWebhookUrl,
  classifyAddress,
  createAllowList,
  createGuardedLookup,
  parseWebhookUrl,
  SsrfRefusedError,
  type AddressClass,
} from "../../src/outbound/ssrf-guard.js";

const table: [string, AddressClass | undefined][] = [
  // loopback, in every numeric spelling
  ["127.0.0.1", "loopback"],
  ["127.0.0.2", "loopback"],
  ["127.255.255.254", "loopback"],
  ["2130706433", "loopback"],
  ["0x7f000001", "loopback"],
  ["0X7F000001", "loopback"],
  ["0177.0.0.1", "loopback"],
  ["0177.0000.0000.0001", "loopback"],
  ["127.1", "loopback"],
  ["127.0.1", "loopback"],
  ["0x7f.1", "loopback"],
  ["127.0.0.1.", "loopback"],
  ["::1", "loopback"],
  ["[::1]", "loopback"],
  ["0:0:0:0:0:0:0:1", "loopback"],
  ["::ffff:127.0.0.1", "loopback"],
  ["::ffff:7f00:1", "loopback"],
  ["[::ffff:127.0.0.1]", "loopback"],
  ["::127.0.0.1", "loopback"],
  ["64:ff9b::127.0.0.1", "loopback"],
  ["2002:7f00:1::", "loopback"],
  // private
  ["10.0.0.1", "private"],
  ["10.255.255.255", "private"],
  ["167772161", "private"],
  ["172.16.0.1", "private"],
  ["172.31.255.255", "private"],
  ["192.168.0.1", "private"],
  ["100.64.0.1", "private"],
  ["100.127.255.255", "private"],
  ["fc00::1", "private"],
  ["fd12:3456::1", "private"],
  ["fec0::1", "private"],
  ["::ffff:10.1.2.3", "private"],
  ["::ffff:192.168.1.1", "private"],
  ["64:ff9b:1::1", "private"],
  // link-local and metadata
  ["169.254.0.1", "link-local"],
  ["169.254.169.254", "metadata"],
  ["0xa9fea9fe", "metadata"],
  ["2852039166", "metadata"],
  ["::ffff:169.254.169.254", "metadata"],
  ["fd00:ec2::254", "metadata"],
  ["168.63.129.16", "metadata"],
  ["fe80::1", "link-local"],
  ["fe80::1%eth0", "link-local"],
  ["febf::1", "link-local"],
  // unspecified, multicast, reserved
  ["0.0.0.0", "unspecified"],
  ["0", "unspecified"],
  ["0.1.2.3", "unspecified"],
  ["::", "unspecified"],
  ["224.0.0.1", "multicast"],
  ["239.255.255.250", "multicast"],
  ["ff02::1", "multicast"],
  ["240.0.0.1", "reserved"],
  ["255.255.255.255", "reserved"],
  ["192.0.2.1", "reserved"],
  ["198.51.100.7", "reserved"],
  ["203.0.113.9", "reserved"],
  ["198.18.0.1", "reserved"],
  ["2001:db8::1", "reserved"],
  ["100::1", "reserved"],
  // public
  ["8.8.8.8", "public"],
  ["1.1.1.1", "public"],
  ["172.32.0.1", "public"],
  ["172.15.255.255", "public"],
  ["100.128.0.1", "public"],
  ["192.169.0.1", "public"],
  ["2606:4700:4700::1111", "public"],
  ["::ffff:8.8.8.8", "public"],
  // not IP addresses at all
  ["example.com", undefined],
  ["localhost", undefined],
  ["1.2.3.4.5", undefined],
  ["256.1.1.1", undefined],
  ["08.0.0.1", undefined],
  ["4294967296", undefined],
  ["1::2::3", undefined],
  ["12345::", undefined],
  ["", undefined],
];

describe("SSRF guard: address classification (pure, no network)", () => {
  it.each(table)("%s is %s", (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });
});

describe("SSRF guard: URLs and the allow-list", () => {
  const none = createAllowList([]);

  it("accepts only absolute http(s) URLs without credentials", () => {
    expect(parseWebhookUrl("https://8.8.8.8/hook").hostname).toBe("8.8.8.8");
    for (const bad of ["ftp://8.8.8.8/", "file:///etc/passwd", "gopher://8.8.8.8/", "/relative", "http://", "https://user:pw@8.8.8.8/", `https://8.8.8.8/${"a".repeat(2100)}`]) {
      expect(() => parseWebhookUrl(bad), bad).toThrow(SsrfRefusedError);
    }
  });

  it("refuses numeric spellings of internal addresses as the URL parser normalizes them", () => {
    for (const url of ["http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/", "http://127.1/", "http://[::ffff:127.0.0.1]/", "http://[::]/", "http://localhost/", "http://api.localhost/", "http://169.254.169.254/latest/meta-data/"]) {
      expect(() => checkHostWithoutDns(parseWebhookUrl(url), none), url).toThrow(SsrfRefusedError);
    }
    expect(checkHostWithoutDns(parseWebhookUrl("https://8.8.8.8/"), none)).toBe(true);
    expect(checkHostWithoutDns(parseWebhookUrl("https://hooks.example.com/"), none)).toBe(false); // still to be resolved
  });

  it("opens exactly what the allow-list names: hosts, addresses, CIDR ranges", () => {
    const allow = createAllowList(["127.0.0.1", "10.1.0.0/16", "Hooks.Internal", "fd00::/8"]);
    expect(checkHostWithoutDns(parseWebhookUrl("http://127.0.0.1:8080/"), allow)).toBe(true);
    expect(checkHostWithoutDns(parseWebhookUrl("http://2130706433/"), allow)).toBe(true);
    expect(checkHostWithoutDns(parseWebhookUrl("http://[::ffff:127.0.0.1]/"), allow)).toBe(true);
    expect(checkHostWithoutDns(parseWebhookUrl("http://10.1.200.3/"), allow)).toBe(true);
    expect(checkHostWithoutDns(parseWebhookUrl("http://hooks.internal./"), allow)).toBe(true);
    expect(checkHostWithoutDns(parseWebhookUrl("http://[fd00:ec2::254]/"), allow)).toBe(true);
    for (const url of ["http://127.0.0.2/", "http://10.2.0.1/", "http://localhost/", "http://[::1]/", "http://169.254.169.254/"]) {
      expect(() => checkHostWithoutDns(parseWebhookUrl(url), allow), url).toThrow(SsrfRefusedError);
    }
    for (const bad of ["10.0.0.0/33", "not a host", "1.2.3.4/x", "http://x"]) {
      expect(() => createAllowList([bad]), bad).toThrow();
    }
  });

  it("checks every resolved address at create time (fake resolver)", async () => {
    const resolveTo = (addresses: string[]) => async () => addresses;
    await expect(checkWebhookUrl("https://hooks.example.com/x", none, resolveTo(["8.8.8.8", "2606:4700::1"]))).resolves.toBeInstanceOf(URL);
    await expect(checkWebhookUrl("https://hooks.example.com/x", none, resolveTo(["8.8.8.8", "10.0.0.7"]))).rejects.toThrow(/resolving to a private address/);
    await expect(checkWebhookUrl("https://hooks.example.com/x", none, resolveTo(["::ffff:127.0.0.1"]))).rejects.toThrow(/loopback/);
    // Not resolvable yet: accepted now, judged again at send time.
    await expect(checkWebhookUrl("https://hooks.example.com/x", none, async () => Promise.reject(new Error("ENOTFOUND")))).resolves.toBeInstanceOf(URL);
    const allowed = createAllowList(["hooks.example.com"]);
    let asked = false;
    await expect(checkWebhookUrl("https://hooks.example.com/x", allowed, async () => ((asked = true), ["10.0.0.1"]))).resolves.toBeInstanceOf(URL);
    expect(asked).toBe(false);
  });

  it("the send-time lookup refuses a rebinding answer and hands back only checked addresses", async () => {
    const answers: string[][] = [["8.8.8.8"], ["127.0.0.1"], ["8.8.4.4", "169.254.169.254"]];
    const fake = ((_host: string, _opts: unknown, cb: (err: Error | null, addrs: dns.LookupAddress[]) => void) => {
      const next = answers.shift()!;
      cb(null, next.map((address) => ({ address, family: address.includes(":") ? 6 : 4 })));
    }) as unknown as typeof dns.lookup;
    const lookup = createGuardedLookup(none, fake);
    const call = (all: boolean) =>
      new Promise<{ err: Error | null; address: unknown }>((resolve) => (lookup as any)("rebind.invalid", { all }, (err: Error | null, address: unknown) => resolve({ err, address })));
    expect(await call(false)).toEqual({ err: null, address: "8.8.8.8" });
    const second = await call(true);
    expect(second.err).toBeInstanceOf(SsrfRefusedError);
    expect(second.err!.message).toMatch(/rebind\.invalid is resolving to a loopback address/);
    const third = await call(true);
    expect(third.err!.message).toMatch(/metadata/);
  });
});
