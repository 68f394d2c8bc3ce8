import { randomInt } from "node:crypto";

/** The character sets a secret policy can draw from. */
export const charsets = {
  alphanumeric: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
  ascii_printable: Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i)).join(""),
  hex: "0123456789abcdef",
  base64url: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
} as const;

export interface GenerationRules {
  length: number;
  charset: keyof typeof charsets | "custom";
  chars?: string;
  requireUppercase: boolean;
  requireLowercase: boolean;
  requireDigits: boolean;
  requireSymbols: boolean;
  excludeChars?: string;
}

const classes = {
  requireUppercase: (c: string) => c >= "A" && c <= "Z",
  requireLowercase: (c: string) => c >= "a" && c <= "z",
  requireDigits: (c: string) => c >= "0" && c <= "9",
  requireSymbols: (c: string) => !/[A-Za-z0-9]/.test(c),
} as const;

/** The alphabet a policy draws from: its charset minus excluded characters, without duplicates. */
export function alphabetOf(rules: GenerationRules): string[] {
  const base = rules.charset === "custom" ? (rules.chars ?? "") : charsets[rules.charset];
  const excluded = new Set(rules.excludeChars ?? "");
  return [...new Set([...base])].filter((c) => !excluded.has(c));
}

/** Why a policy can never be satisfied, or undefined when it can. */
export function impossibility(rules: GenerationRules): string | undefined {
  const alphabet = alphabetOf(rules);
  if (alphabet.length < 2) return "the charset minus exclude_chars leaves fewer than 2 characters";
  let required = 0;
  for (const [flag, test] of Object.entries(classes) as [keyof typeof classes, (c: string) => boolean][]) {
    if (!rules[flag]) continue;
    required += 1;
    if (!alphabet.some(test)) return `${toSnake(flag)} cannot be met: no such character in the charset`;
  }
  if (required > rules.length) return "length is shorter than the number of required character classes";
  if (successChance(rules) < MIN_SUCCESS_CHANCE) {
    return "the required classes are too rare in this charset for this length; add characters of those classes or lengthen it";
  }
  return undefined;
}

/** Below this chance that one uniform draw meets every required class, a policy is refused (it could fail at rotation time). */
const MIN_SUCCESS_CHANCE = 0.01;

/**
 * The chance that a uniform draw of `length` characters contains every required class, by
 * inclusion–exclusion over the (disjoint) classes: Σ over subsets S of (−1)^|S| · (1 − |S's chars|/n)^length.
 */
export function successChance(rules: GenerationRules): number {
  const alphabet = alphabetOf(rules);
  const sizes = (Object.entries(classes) as [keyof typeof classes, (c: string) => boolean][])
    .filter(([flag]) => rules[flag])
    .map(([, test]) => alphabet.filter(test).length);
  let chance = 0;
  for (let mask = 0; mask < 1 << sizes.length; mask++) {
    let missing = 0;
    let bits = 0;
    sizes.forEach((size, i) => {
      if (mask & (1 << i)) {
        missing += size;
        bits++;
      }
    });
    chance += (bits % 2 ? -1 : 1) * Math.pow(1 - missing / alphabet.length, rules.length);
  }
  return chance;
}

/**
 * Draws a value uniformly from the alphabet with the OS CSPRNG (`crypto.randomInt` rejects biased draws,
 * so there is no modulo bias), then redraws until every required class is present. Rejection keeps
 * the result uniform over all strings that meet the rules.
 */
export function generateValue(rules: GenerationRules): string {
  const why = impossibility(rules);
  if (why) throw new Error(why);
  const alphabet = alphabetOf(rules);
  const tests = (Object.keys(classes) as (keyof typeof classes)[]).filter((f) => rules[f]).map((f) => classes[f]);
  for (let attempt = 0; attempt < 10_000; attempt++) {
    let out = "";
    for (let i = 0; i < rules.length; i++) out += alphabet[randomInt(alphabet.length)];
    if (tests.every((t) => [...out].some(t))) return out;
  }
  throw new Error("could not meet the required classes; the policy is too tight");
}

function toSnake(flag: string): string {
  return flag.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
