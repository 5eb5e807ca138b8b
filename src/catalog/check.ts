/**
 * Labelled boundary checks for values entering the catalog, in the spirit of noble's
 * `abytes(value, length, title)`. They throw `BAD_REQUEST` naming the field, never its value
 * (values may be identifiers or secrets).
 */

import { VaultError } from "../errors.ts";

export { assertBytes as checkBytes } from "../errors.ts";

/** A string of `min..max` characters without control characters. */
export function checkText(value: unknown, title: string, max: number, min = 1): string {
  if (typeof value !== "string") throw bad(title, "expected a string");
  if (value.length < min || value.length > max) {
    throw bad(title, `expected ${min} to ${max} characters`);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
  if (/[\u0000-\u001f\u007f]/.test(value)) throw bad(title, "control characters are not allowed");
  return value;
}

/** A string matching `pattern` (which must anchor both ends). */
export function checkPattern(value: unknown, title: string, pattern: RegExp): string {
  if (typeof value !== "string" || !pattern.test(value)) throw bad(title, "malformed");
  return value;
}

/** A safe integer in `min..max`. */
export function checkInt(value: unknown, title: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw bad(title, `expected an integer from ${min} to ${max}`);
  }
  return value;
}

/**
 * A valid Date, stored as `toISOString()`. Years are limited to 1970..9999 so that stored
 * timestamps keep one fixed format and compare correctly as text in SQL.
 */
export function checkDate(value: unknown, title: string): string {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw bad(title, "expected a Date");
  const year = value.getUTCFullYear();
  if (year < 1970 || year > 9999) throw bad(title, "year out of range");
  return value.toISOString();
}

export function checkOptionalDate(value: Date | undefined, title: string): string | null {
  return value === undefined ? null : checkDate(value, title);
}

function bad(title: string, why: string): VaultError {
  return new VaultError("BAD_REQUEST", `${title}: ${why}`);
}
