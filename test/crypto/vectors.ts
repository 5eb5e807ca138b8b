/** Loads the C2SP age test vectors (CCTV) from ../shared/testkit/age, inflating zlib ones. */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { inflateSync } from "node:zlib";

export const VECTOR_DIR = join(import.meta.dirname, "../../../shared/testkit/age");

export type Vector = {
  name: string;
  expect: string;
  payloadSha256: string | undefined;
  identities: string[];
  passphrases: string[];
  armored: boolean;
  file: Uint8Array;
};

export function loadVectors(): Vector[] {
  const out: Vector[] = [];
  for (const name of readdirSync(VECTOR_DIR).sort()) {
    if (name === "README.md") continue;
    const raw = readFileSync(join(VECTOR_DIR, name));
    const split = raw.indexOf("\n\n");
    const head = raw.subarray(0, split).toString("utf8").split("\n");
    let body: Uint8Array = raw.subarray(split + 2);
    const v: Vector = { name, expect: "", payloadSha256: undefined, identities: [], passphrases: [], armored: false, file: body };
    let compressed = false;
    for (const line of head) {
      const at = line.indexOf(": ");
      const key = line.slice(0, at);
      const value = line.slice(at + 2);
      if (key === "expect") v.expect = value;
      else if (key === "payload") v.payloadSha256 = value;
      else if (key === "identity") v.identities.push(value);
      else if (key === "passphrase") v.passphrases.push(value);
      else if (key === "armored") v.armored = value === "yes";
      else if (key === "compressed") compressed = value === "zlib";
    }
    if (compressed) body = inflateSync(body);
    v.file = body;
    out.push(v);
  }
  return out;
}

export const EXPECTED_CODE: Record<string, string | undefined> = {
  success: undefined,
  "no match": "NO_MATCH",
  "HMAC failure": "HMAC_FAILURE",
  "header failure": "HEADER_FAILURE",
  "payload failure": "PAYLOAD_FAILURE",
  "armor failure": "ARMOR_FAILURE",
};
