import { describe, expect, it } from "vitest";
import { alphabetOf, generateValue, impossibility, successChance, type GenerationRules } from "../../src/crypto/value-generator.js";

const base: GenerationRules = {
  length: 12,
  charset: "ascii_printable",
  requireUppercase: true,
  requireLowercase: true,
  requireDigits: true,
  requireSymbols: true,
};

describe("value generation", () => {
  it("meets every require_* class and exclusion over many draws", () => {
    const rules = { ...base, excludeChars: "O0Il1" };
    for (let i = 0; i < 2000; i++) {
      const v = generateValue(rules);
      expect(v).toHaveLength(12);
      expect(v).toMatch(/[A-Z]/);
      expect(v).toMatch(/[a-z]/);
      expect(v).toMatch(/[0-9]/);
      expect(v).toMatch(/[^A-Za-z0-9]/);
      expect(v).not.toMatch(/[O0Il1]/);
    }
  });

  it("draws each character of the alphabet about equally often (no modulo bias)", () => {
    const rules: GenerationRules = { length: 64, charset: "custom", chars: "abcdefg", requireUppercase: false, requireLowercase: false, requireDigits: false, requireSymbols: false };
    const counts = new Map<string, number>();
    const draws = 3000;
    for (let i = 0; i < draws; i++) for (const c of generateValue(rules)) counts.set(c, (counts.get(c) ?? 0) + 1);
    const expected = (draws * 64) / 7;
    // chi-square with 6 degrees of freedom; 22.46 is the 0.999 quantile
    let chi = 0;
    for (const c of "abcdefg") chi += ((counts.get(c) ?? 0) - expected) ** 2 / expected;
    expect(chi).toBeLessThan(22.46);
  });

  it("rejects impossible policies", () => {
    expect(impossibility({ ...base, charset: "hex" })).toMatch(/require_uppercase/);
    expect(impossibility({ ...base, length: 3 })).toMatch(/length/);
    expect(impossibility({ ...base, charset: "custom", chars: "aaaa", requireUppercase: false, requireDigits: false, requireSymbols: false })).toMatch(/fewer than 2/);
    expect(impossibility({ ...base, excludeChars: "0123456789" })).toMatch(/require_digits/);
    expect(impossibility(base)).toBeUndefined();
    // possible, but a draw would almost never contain the one digit: refused before it fails at rotation time
    const rare: GenerationRules = { length: 8, charset: "custom", chars: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" + "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿ".repeat(1) + "7", requireUppercase: false, requireLowercase: false, requireDigits: true, requireSymbols: false };
    expect(successChance(rare)).toBeLessThan(0.1);
    expect(impossibility({ ...rare, length: 8, chars: "x".repeat(1) + Array.from({ length: 1000 }, (_, i) => String.fromCharCode(0x4e00 + i)).join("") + "7" })).toMatch(/too rare/);
    expect(successChance({ ...base })).toBeGreaterThan(0.3);
    expect(alphabetOf({ ...base, charset: "hex", excludeChars: "abc" })).toHaveLength(13);
  });
});
