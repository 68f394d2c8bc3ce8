/** Durations of the contract: one or more `<integer><unit>` with unit s, m, h, d or w (`90d`, `1h30m`). */
const unitSeconds: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Parses a duration into whole seconds; throws on anything else. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (!/^(\d+[smhdw])+$/.test(trimmed)) throw new RangeError("not a duration");
  let total = 0;
  for (const [, n, unit] of trimmed.matchAll(/(\d+)([smhdw])/g)) total += Number(n) * unitSeconds[unit!]!;
  if (!Number.isSafeInteger(total) || total <= 0) throw new RangeError("duration out of range");
  return total;
}
