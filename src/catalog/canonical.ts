/**
 * Canonical JSON, after RFC 8785 (JCS): the one byte string an audit event hashes to.
 *
 * - Object keys sorted by UTF-16 code units (JavaScript's default string order, as JCS),
 *   recursively; no whitespace anywhere.
 * - Strings and numbers serialized as ECMAScript `JSON.stringify` does (which JCS adopts).
 * - Only JSON values are accepted: null, booleans, finite numbers, strings, arrays and plain
 *   objects. `undefined`, NaN, Infinity, bigint, bytes, dates and lone surrogates are refused
 *   rather than silently changed, so that hashing never depends on a lossy conversion.
 */

import { VaultError } from "../errors.ts";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export function canonicalJson(value: unknown): string {
  return write(value, 0);
}

const MAX_DEPTH = 32;

function write(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw bad("nested too deeply");
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw bad("numbers must be finite");
      return JSON.stringify(value);
    case "string":
      if (!value.isWellFormed()) throw bad("strings must be well-formed UTF-16");
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return `[${value.map((item) => write(item, depth + 1)).join(",")}]`;
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) throw bad("only plain objects");
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      const members = keys.map((key) => {
        if (!key.isWellFormed()) throw bad("keys must be well-formed UTF-16");
        return `${JSON.stringify(key)}:${write(record[key], depth + 1)}`;
      });
      return `{${members.join(",")}}`;
    }
    default:
      throw bad(`${typeof value} is not a JSON value`);
  }
}

function bad(why: string): VaultError {
  return new VaultError("BAD_REQUEST", `canonical JSON: ${why}`);
}
