/** Argument parsing for the CLI: node:util parseArgs with usage errors as VaultError. */

import { type ParseArgsConfig, parseArgs } from "node:util";
import { VaultError } from "../errors.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

export function parse<O extends Options>(argv: string[], options: O, usage: string) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
  } catch (cause) {
    throw new VaultError("BAD_REQUEST", `${(cause as Error).message}\n${usage}`, { cause });
  }
}

export function list(value: string | boolean | (string | boolean)[] | undefined): string[] {
  if (value === undefined || typeof value === "boolean") return [];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string");
  return [value];
}

export function one(value: string | boolean | (string | boolean)[] | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}
