import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { open, seal, secretAad, unwrapDataKey, wrapDataKey } from "../../src/crypto/envelope.js";
import { masterKeyFromBytes } from "../../src/crypto/master-key.js";

describe("envelope primitives", () => {
  const key = randomBytes(32);
  const plaintext = Buffer.from('{"password":"canary-envelope"}');

  it("round-trips under the same AAD", () => {
    const aad = secretAad("t1", "app/db", 1);
    const { nonce, ciphertext } = seal(key, plaintext, aad);
    expect(open(key, nonce, ciphertext, aad).equals(plaintext)).toBe(true);
    expect(ciphertext.includes(plaintext)).toBe(false);
  });

  it("fails closed when tenant, path or version differ (a moved ciphertext)", () => {
    const { nonce, ciphertext } = seal(key, plaintext, secretAad("t1", "app/db", 1));
    for (const aad of [secretAad("t2", "app/db", 1), secretAad("t1", "app/other", 1), secretAad("t1", "app/db", 2)]) {
      expect(() => open(key, nonce, ciphertext, aad)).toThrow();
    }
  });

  it("fails closed on every flipped byte of nonce, ciphertext and tag", () => {
    const aad = secretAad("t1", "p", 1);
    const { nonce, ciphertext } = seal(key, plaintext, aad);
    // A 96-bit nonce, and the 16-byte tag travels with the ciphertext: every byte below is flipped.
    expect(nonce.length).toBe(12);
    expect(ciphertext.length).toBe(plaintext.length + 16);
    const opened: string[] = [];
    const tryOpen = (label: string, n: Buffer, c: Buffer) => {
      try {
        open(key, n, c, aad);
        opened.push(label);
      } catch {
        // refused, as it must be
      }
    };
    for (let i = 0; i < nonce.length; i++) {
      const n = Buffer.from(nonce);
      n[i]! ^= 0x01;
      tryOpen(`nonce byte ${i}`, n, ciphertext);
    }
    for (let i = 0; i < ciphertext.length; i++) {
      const c = Buffer.from(ciphertext);
      c[i]! ^= 0x80;
      tryOpen(`ciphertext byte ${i}`, nonce, c);
    }
    expect(opened).toEqual([]);
    // The unmodified value still opens, so the refusals above are about the flips.
    expect(open(key, nonce, ciphertext, aad).equals(plaintext)).toBe(true);
  });

  it("wraps data keys so only the right master key and binding unwrap them", () => {
    const m1 = masterKeyFromBytes(randomBytes(32));
    const m2 = masterKeyFromBytes(randomBytes(32));
    const dataKey = randomBytes(32);
    const wrapped = wrapDataKey(m1, "t1", 1, dataKey);
    expect(unwrapDataKey(m1, "t1", 1, wrapped).equals(dataKey)).toBe(true);
    expect(() => unwrapDataKey(m2, "t1", 1, wrapped)).toThrow();
    expect(() => unwrapDataKey(m1, "t2", 1, wrapped)).toThrow();
    const flipped = Buffer.from(wrapped);
    flipped[20]! ^= 1;
    expect(() => unwrapDataKey(m1, "t1", 1, flipped)).toThrow();
    expect(m1.id).not.toBe(m2.id);
  });
});
