import { setTimeout as delay } from "node:timers/promises";
import { ScaiVaultError } from "../../errors.js";

/** Waits `ms` unless `signal` aborts first; providers take one so tests can advance a clock instead. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

/** The real wait: a timer that rejects when the run is told to stop. */
export const abortableSleep: Sleep = async (ms, signal) => {
  await delay(ms, undefined, { signal });
};

/** Throws invalid_request unless `value` is a plain JSON object. */
export function requireObject(value: unknown, where: string): asserts value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ScaiVaultError("invalid_request", `${where} must be an object`);
  }
}

/** A required non-empty string field, or invalid_request naming it (never echoing its value). */
export function requireString(obj: Record<string, unknown>, field: string, where: string): string {
  const value = obj[field];
  if (typeof value !== "string" || value.length === 0) {
    throw new ScaiVaultError("invalid_request", `${where}.${field} is required and must be a non-empty string`);
  }
  return value;
}

/** An optional non-empty string field: undefined when absent, invalid_request when of another type. */
export function optionalString(obj: Record<string, unknown>, field: string, where: string): string | undefined {
  if (obj[field] === undefined || obj[field] === null) return undefined;
  return requireString(obj, field, where);
}
