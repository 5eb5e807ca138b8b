import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decrypt } from "../../src/cli/envelope.ts";
import { generateKey } from "../../src/crypto/index.ts";
import { isVaultError } from "../../src/errors.ts";
import { bytes, SIZES, tempDir } from "../crypto/helpers.ts";
import { EXPECTED_CODE, loadVectors } from "../crypto/vectors.ts";
import { medvault, run } from "./run.ts";

const dir = tempDir();
const p = (name: string) => join(dir.path, name);
let recipient = "";

beforeAll(async () => {
  const r = await medvault(["keygen", "-o", p("key.txt")]);
  expect(r.code).toBe(0);
  recipient = r.stdout.toString().trim();
});
afterAll(() => dir.remove());

describe("medvault keygen", () => {
  it("writes an owner-only identity file and prints its recipient", async () => {
    expect(recipient).toMatch(/^age1[02-9ac-hj-np-z]{58}$/);
    expect(statSync(p("key.txt")).mode & 0o777).toBe(0o600);
    expect(readFileSync(p("key.txt"), "utf8")).toContain(`# public key: ${recipient}`);
  });

  it("never overwrites an identity file", async () => {
    const r = await medvault(["keygen", "-o", p("key.txt")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/CONFLICT/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("makes post-quantum hybrid identities with --pq", async () => {
    const r = await medvault(["keygen", "--pq"]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/^# public key: age1pq1/m);
    expect(r.stdout.toString()).toMatch(/^AGE-SECRET-KEY-PQ-1/m);
  });

  it("has help text for every command, and a usage error exits 2", async () => {
    for (const cmd of ["keygen", "encrypt", "decrypt"]) {
      const r = await medvault([cmd, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toContain(`Usage: medvault ${cmd}`);
    }
    expect((await medvault(["encrypt", "--bogus"])).code).toBe(2);
    expect((await medvault(["frobnicate"])).code).toBe(2);
  });
});

describe("interop with Debian's age (X25519), both ways, file and pipe paths", () => {
  it.each(SIZES)("%i bytes", async (size) => {
    const data = bytes(size, size + 11);
    writeFileSync(p(`plain-${size}`), data);
    // medvault (file to file; the parallel path from 8 MiB) → age
    expect((await medvault(["encrypt", "-r", recipient, "-o", p(`mv-${size}.age`), p(`plain-${size}`)])).code).toBe(0);
    const a = await run("age", ["-d", "-i", p("key.txt"), p(`mv-${size}.age`)]);
    expect(a.code).toBe(0);
    expect(a.stdout.equals(data)).toBe(true);
    // medvault (stdin to stdout) → age
    const piped = await medvault(["encrypt", "-r", recipient], { input: data });
    expect(piped.code).toBe(0);
    expect((await run("age", ["-d", "-i", p("key.txt")], { input: piped.stdout })).stdout.equals(data)).toBe(true);
    // age → medvault (file to file)
    expect((await run("age", ["-r", recipient, "-o", p(`age-${size}.age`), p(`plain-${size}`)])).code).toBe(0);
    expect((await medvault(["decrypt", "-i", p("key.txt"), "-o", p(`out-${size}`), p(`age-${size}.age`)])).code).toBe(0);
    expect(readFileSync(p(`out-${size}`)).equals(data)).toBe(true);
    // age → medvault (stdin to stdout)
    const d = await medvault(["decrypt", "-i", p("key.txt")], { input: readFileSync(p(`age-${size}.age`)) });
    expect(d.code).toBe(0);
    expect(d.stdout.equals(data)).toBe(true);
  });
});

describe("medvault decrypt on damaged input", () => {
  it("wrong key: exit 1, one line naming NO_MATCH, no output file left", async () => {
    writeFileSync(p("small"), bytes(1000));
    await medvault(["encrypt", "-r", recipient, "-o", p("small.age"), p("small")]);
    await medvault(["keygen", "-o", p("other.txt")]);
    const r = await medvault(["decrypt", "-i", p("other.txt"), "-o", p("small.out"), p("small.age")]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("NO_MATCH");
    expect(existsSync(p("small.out"))).toBe(false);
  });

  it.each([
    ["stream path", "1000000000"],
    ["parallel path", "0"],
  ])("truncated payload (%s): exit 1 with PAYLOAD_FAILURE; the output is authenticated plaintext only", async (_name, minBytes) => {
    const data = bytes(40 * 65536 + 123, 77);
    writeFileSync(p("t.bin"), data);
    await medvault(["encrypt", "-r", recipient, "-o", p("t.age"), p("t.bin")]);
    const full = readFileSync(p("t.age"));
    writeFileSync(p("t-cut.age"), full.subarray(0, full.length - 70_000));
    const r = await medvault(["decrypt", "-i", p("key.txt"), "-o", p("t.out"), p("t-cut.age")], {
      env: { MEDVAULT_PARALLEL_MIN_BYTES: minBytes },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("PAYLOAD_FAILURE");
    const out = readFileSync(p("t.out"));
    expect(out.length % 65536).toBe(0);
    expect(out.length).toBeGreaterThan(0);
    expect(out.equals(data.subarray(0, out.length))).toBe(true);
  });

  it("shares ranges among threads: 24 MiB round trip with age, and a damaged chunk in a late range cuts the output right before it", async () => {
    const data = bytes(24 * 1024 * 1024 + 5, 91);
    writeFileSync(p("r.bin"), data);
    const workers = { MEDVAULT_CRYPTO_WORKERS: "3", MEDVAULT_PARALLEL_MIN_BYTES: "0" };
    expect((await medvault(["encrypt", "-r", recipient, "-o", p("r.age"), p("r.bin")], { env: workers })).code).toBe(0);
    const viaAge = execFileSync("age", ["-d", "-i", p("key.txt"), p("r.age")], { maxBuffer: 64 * 1024 * 1024 });
    expect(viaAge.equals(data)).toBe(true);
    const sealed = readFileSync(p("r.age"));
    const payloadStart = sealed.length - (Math.ceil(data.length / 65536) * 16 + data.length);
    const damagedChunk = 300; // in the fifth of seven 4 MiB ranges
    const at = payloadStart + damagedChunk * 65552 + 1000;
    sealed.writeUInt8(sealed.readUInt8(at) ^ 0x40, at);
    writeFileSync(p("r-bad.age"), sealed);
    const r = await medvault(["decrypt", "-i", p("key.txt"), "-o", p("r.out"), p("r-bad.age")], { env: workers });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("PAYLOAD_FAILURE");
    const out = readFileSync(p("r.out"));
    expect(out.length).toBe(damagedChunk * 65536);
    expect(out.equals(data.subarray(0, out.length))).toBe(true);
  });
});

describe("C2SP vectors through `medvault decrypt` file to file, on the parallel path", () => {
  const vectors = loadVectors().filter((v) => v.passphrases.length === 0);
  const saved = process.env.MEDVAULT_PARALLEL_MIN_BYTES;
  beforeAll(() => {
    process.env.MEDVAULT_PARALLEL_MIN_BYTES = "0";
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.MEDVAULT_PARALLEL_MIN_BYTES;
    else process.env.MEDVAULT_PARALLEL_MIN_BYTES = saved;
  });

  it.each(vectors.map((v) => [v.name, v] as const))("%s", async (name, v) => {
    const keyFile = p(`${name}.key`);
    // A vector without an identity fails before keys matter; the CLI still wants one.
    const ids = v.identities.length > 0 ? v.identities : [(await generateKey()).identity];
    writeFileSync(keyFile, `${ids.join("\n")}\n`);
    writeFileSync(p(`${name}.in`), v.file);
    const out = p(`${name}.out`);
    let code: string | undefined;
    try {
      await decrypt(["-i", keyFile, "-o", out, p(`${name}.in`)]);
    } catch (error) {
      if (!isVaultError(error)) throw error;
      code = error.code;
    }
    expect(code).toBe(EXPECTED_CODE[v.expect]);
    if (v.payloadSha256 !== undefined) {
      const released = existsSync(out) ? readFileSync(out) : Buffer.alloc(0);
      expect(createHash("sha256").update(released).digest("hex")).toBe(v.payloadSha256);
    }
  });
});
