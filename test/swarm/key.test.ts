/** The swarm key format and the swarm settings from the environment. */

import { chmod, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isVaultError } from "../../src/errors.ts";
import { STATUS } from "../../src/http/status.ts";
import { formatSwarmKey, generateSwarmKey, loadSwarmConfig, parseSwarmKey, readSwarmKey } from "../../src/swarm/index.ts";
import { medvault } from "../cli/run.ts";
import { makeTempDir, removeDir } from "../store/helpers.ts";

const HEX = "dffb7e3135399a8b1612b2aaca1c36a3a8ac2cd0cca51ceeb2ced87d308cac6d";
const TEXT = `/key/swarm/psk/1.0.0/\n/base16/\n${HEX}\n`;
const PEER = "12D3KooWNEAY151X52fGoUA7D4Pg7dWVEAydhrLxEkTbXRT5Womt";

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir();
});
afterAll(async () => {
  await removeDir(dir);
});

/** The error, which must be a `BAD_REQUEST` whose message quotes no key material. */
async function badRequest(run: () => unknown, ...secrets: string[]): Promise<Error> {
  let caught: unknown;
  try {
    await run();
  } catch (error) {
    caught = error;
  }
  expect(isVaultError(caught, "BAD_REQUEST"), `expected BAD_REQUEST, got ${String(caught)}`).toBe(true);
  const error = caught as Error;
  for (const secret of [HEX, ...secrets]) {
    expect(error.message.toLowerCase()).not.toContain(secret.toLowerCase());
    expect(String(error.cause ?? "").toLowerCase()).not.toContain(secret.toLowerCase());
  }
  return error;
}

describe("swarm.key text", () => {
  it("round-trips, in the IPFS format", () => {
    const key = generateSwarmKey();
    expect(key).toBeInstanceOf(Uint8Array);
    expect(key.byteLength).toBe(32);
    const text = formatSwarmKey(key);
    expect(text).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/);
    expect(parseSwarmKey(text)).toEqual(key);
    expect(Buffer.from(parseSwarmKey(TEXT)).toString("hex")).toBe(HEX);
    expect(generateSwarmKey()).not.toEqual(key);
  });

  it("accepts CRLF, no final newline, surrounding blanks and upper-case hex", () => {
    for (const text of [TEXT.replaceAll("\n", "\r\n"), TEXT.trimEnd(), `\n  ${TEXT}  \n`, TEXT.replace(HEX, HEX.toUpperCase())]) {
      expect(Buffer.from(parseSwarmKey(text)).toString("hex")).toBe(HEX);
    }
  });

  it("refuses other headers, encodings and lengths without quoting the key", async () => {
    const cases = [
      "",
      HEX,
      TEXT.replace("/key/swarm/psk/1.0.0/", "/key/swarm/psk/2.0.0/"),
      TEXT.replace("/base16/", "/base64/"),
      TEXT.replace(HEX, HEX.slice(2)),
      TEXT.replace(HEX, `${HEX}00`),
      TEXT.replace(HEX, `${HEX.slice(1)}g`),
      `${TEXT}extra\n`,
    ];
    for (const text of cases) await badRequest(() => parseSwarmKey(text), HEX.slice(2), HEX.slice(1));
    await badRequest(() => formatSwarmKey(new Uint8Array(31)));
  });
});

describe("MEDVAULT_SWARM_KEY", () => {
  it("is 64 hex digits or the path of a swarm.key file", async () => {
    expect(Buffer.from(await readSwarmKey(HEX)).toString("hex")).toBe(HEX);
    expect(Buffer.from(await readSwarmKey(` ${HEX.toUpperCase()}\n`)).toString("hex")).toBe(HEX);
    const path = join(dir, "swarm.key");
    await writeFile(path, TEXT, { mode: 0o600 });
    expect(Buffer.from(await readSwarmKey(path)).toString("hex")).toBe(HEX);
  });

  it("refuses anything else, never printing what it was given", async () => {
    const mistyped = `${HEX.slice(0, 63)}x`;
    await badRequest(() => readSwarmKey(mistyped), mistyped);
    await badRequest(() => readSwarmKey(HEX.slice(1)), HEX.slice(1));
    await badRequest(() => readSwarmKey(""));
    await badRequest(() => readSwarmKey(TEXT), TEXT);
    const missing = join(dir, "no-such.key");
    await badRequest(() => readSwarmKey(missing));
    const notAKey = join(dir, "not-a.key");
    await writeFile(notAKey, `${HEX}\n`);
    await badRequest(() => readSwarmKey(notAKey));
    const unreadable = join(dir, "unreadable.key");
    await writeFile(unreadable, TEXT);
    await chmod(unreadable, 0);
    if (process.getuid?.() !== 0) await badRequest(() => readSwarmKey(unreadable));
  });
});

describe("loadSwarmConfig", () => {
  it("is undefined without a swarm key: the store stays offline", async () => {
    expect(await loadSwarmConfig({})).toBeUndefined();
    expect(await loadSwarmConfig({ MEDVAULT_SWARM_KEY: " ", MEDVAULT_REPLICATION: "1" })).toBeUndefined();
  });

  it("reads the key, listen and peer lists, and the replication factor", async () => {
    const config = await loadSwarmConfig({
      MEDVAULT_SWARM_KEY: HEX,
      MEDVAULT_IPFS_LISTEN: "/ip4/0.0.0.0/tcp/4001, /ip6/::/tcp/4001",
      MEDVAULT_IPFS_PEERS: `/ip4/10.0.0.2/tcp/4001/p2p/${PEER},/dns4/vault-c.internal/tcp/4001,`,
      MEDVAULT_REPLICATION: "2",
    });
    expect(config).toMatchObject({
      listen: ["/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001"],
      peers: [`/ip4/10.0.0.2/tcp/4001/p2p/${PEER}`, "/dns4/vault-c.internal/tcp/4001"],
      replication: 2,
    });
    expect(Buffer.from(config?.swarmKey ?? []).toString("hex")).toBe(HEX);
    expect(await loadSwarmConfig({ MEDVAULT_SWARM_KEY: HEX })).toMatchObject({
      listen: ["/ip4/127.0.0.1/tcp/4001"],
      peers: [],
      replication: 1,
    });
  });

  it("refuses bad settings with BAD_REQUEST", async () => {
    const base = { MEDVAULT_SWARM_KEY: HEX };
    const cases: NodeJS.ProcessEnv[] = [
      { MEDVAULT_REPLICATION: "2" },
      { MEDVAULT_IPFS_PEERS: "/ip4/10.0.0.2/tcp/4001" },
      { MEDVAULT_IPFS_LISTEN: "/ip4/127.0.0.1/tcp/4001" },
      { ...base, MEDVAULT_REPLICATION: "0" },
      { ...base, MEDVAULT_REPLICATION: "two" },
      { ...base, MEDVAULT_REPLICATION: "1.5" },
      { ...base, MEDVAULT_REPLICATION: "1000" },
      { ...base, MEDVAULT_IPFS_LISTEN: "127.0.0.1:4001" },
      { ...base, MEDVAULT_IPFS_LISTEN: "/ip4/127.0.0.1/udp/4001/quic-v1" },
      { ...base, MEDVAULT_IPFS_LISTEN: `/ip4/127.0.0.1/tcp/4001/p2p/${PEER}` },
      { ...base, MEDVAULT_IPFS_PEERS: "/ip4/10.0.0.2/tcp/4001/p2p/not-a-peer-id" },
      { ...base, MEDVAULT_IPFS_PEERS: "/ip4/10.0.0.2" },
      { MEDVAULT_SWARM_KEY: "swarm-key-that-is-neither" },
    ];
    for (const env of cases) await badRequest(() => loadSwarmConfig(env), "swarm-key-that-is-neither");
  });

  it("maps REPLICATION_FAILED to 503", () => {
    expect(STATUS.REPLICATION_FAILED).toBe(503);
  });
});

describe("medvault swarm-key", () => {
  it("writes a new key file (0600) that MEDVAULT_SWARM_KEY accepts, never overwrites one, and prints no key with -o", async () => {
    const path = join(dir, "cli-swarm.key");
    const first = await medvault(["swarm-key", "-o", path]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.toString()).toBe("");
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const key = await readSwarmKey(path);
    expect(key).toHaveLength(32);
    const again = await medvault(["swarm-key", "-o", path]);
    expect(again.code).toBe(1);
    expect(Buffer.from(await readSwarmKey(path)).equals(Buffer.from(key))).toBe(true);
    const printed = await medvault(["swarm-key"]);
    expect(printed.code).toBe(0);
    const other = parseSwarmKey(printed.stdout.toString());
    expect(Buffer.from(other).equals(Buffer.from(key))).toBe(false);
  });
});
