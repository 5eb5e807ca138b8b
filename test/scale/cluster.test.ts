// Several machines, played on 127.0.0.1: three `medvault serve` processes (own data dirs and
// ports) on one PostgreSQL catalog, one private swarm with R = 2, and an anvil started apart
// from them as the external chain (VaultAnchor deployed with `medvault chain deploy`). Then a
// fourth node with another swarm key. Everything real; every process stopped by its PID.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatSwarmKey, generateSwarmKey } from "../../src/swarm/index.ts";
import { fundedKey, startTestChain, type TestChain, waitFor } from "../anchor/fixture.ts";
import { createPostgresDatabase } from "../catalog/fixture.ts";
import { medvault } from "../cli/run.ts";
import { tempDir } from "../crypto/helpers.ts";
import {
  addPrincipal,
  call,
  type Download,
  fetchDownload,
  newToken,
  type Principal,
  type Served,
  spawnServe,
  upload,
} from "../service/harness.ts";
import { freePort } from "../support/postgres.ts";

type Node = { name: string; dataDir: string; ipfsPort: number; served?: Served | undefined };

const dir = tempDir("medvault-cluster-");
const path = (name: string) => join(dir.path, name);
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
const adminToken = newToken();
let chain: TestChain;
let baseEnv: Record<string, string>;
const nodes: Node[] = [];
let uploader: Principal;
let recipient: Principal;
let privacy: Principal;
const files: { id: string; cid: string; data: Buffer }[] = [];

function nodeEnv(node: Node, peers: Node[], swarmKey = path("swarm.key")): Record<string, string> {
  return {
    ...baseEnv,
    MEDVAULT_SWARM_KEY: swarmKey,
    MEDVAULT_IPFS_LISTEN: `/ip4/127.0.0.1/tcp/${node.ipfsPort}`,
    MEDVAULT_IPFS_PEERS: peers.map((p) => `/ip4/127.0.0.1/tcp/${p.ipfsPort}`).join(","),
  };
}

async function start(node: Node, swarmKey?: string): Promise<Served> {
  node.served = await spawnServe(node.dataDir, adminToken, nodeEnv(node, nodes, swarmKey));
  return node.served;
}

function url(node: Node): string {
  if (node.served === undefined) throw new Error(`${node.name} is not running`);
  return node.served.url;
}

/** Roots pinned on a node: one file per root in its store's pins/ (src/store/pins.ts). */
function pins(node: Node): string[] {
  const dirPath = join(node.dataDir, "ipfs", "pins");
  return existsSync(dirPath) ? readdirSync(dirPath).filter((name) => !name.startsWith(".")) : [];
}

function content(node: Node, id: string, token: string): Promise<Download> {
  return fetchDownload(url(node), token, id, "content");
}

beforeAll(async () => {
  chain = await startTestChain();
  const key = await fundedKey(chain.rpcUrl);
  writeFileSync(path("anchorer.key"), `${key}\n`, { mode: 0o600 });
  const deployed = await medvault(["chain", "deploy", "--rpc", chain.rpcUrl, "--key", path("anchorer.key")]);
  expect(deployed.code, deployed.stderr).toBe(0);
  const contract = deployed.stdout.toString().trim();
  const keygen = await medvault(["keygen", "--pq", "-o", path("vault-identity.txt")]);
  expect(keygen.code, keygen.stderr).toBe(0);
  const swarmKey = await medvault(["swarm-key", "-o", path("swarm.key")]);
  expect(swarmKey.code, swarmKey.stderr).toBe(0);
  writeFileSync(path("other-swarm.key"), formatSwarmKey(generateSwarmKey()), { mode: 0o600 });
  baseEnv = {
    MEDVAULT_CATALOG_URL: createPostgresDatabase(),
    MEDVAULT_VAULT_IDENTITY: path("vault-identity.txt"),
    MEDVAULT_CHAIN_RPC: chain.rpcUrl,
    MEDVAULT_ANCHOR_CONTRACT: contract,
    MEDVAULT_ANCHORER_KEY: path("anchorer.key"),
    MEDVAULT_REPLICATION: "2",
    MEDVAULT_BATCH_MAX_MS: "300",
  };
  for (const name of ["a", "b", "c"]) nodes.push({ name, dataDir: path(`node-${name}`), ipfsPort: await freePort() });
  for (const node of nodes) await start(node); // the first one migrates the catalog and creates the admin
  const service = { url: url(nodes[0] as Node), admin: { id: "", name: "admin", role: "admin" as const, token: adminToken } };
  uploader = await addPrincipal(service, "uploader");
  recipient = await addPrincipal(service, "recipient");
  privacy = await addPrincipal(service, "privacy");
}, 180_000);

afterAll(async () => {
  for (const node of nodes) await node.served?.stop("SIGKILL");
  await chain?.stop();
  dir.remove();
});

describe("three vault nodes, one PostgreSQL catalog, a private swarm with R = 2, an external chain", () => {
  it("an upload to one node is acknowledged once two nodes pin it, and reads back byte-equal from every node", async () => {
    const [a] = nodes as [Node];
    for (const size of [0, 1, 3 * 1024 * 1024 + 17]) {
      const data = randomBytes(size);
      const res = await upload(url(a), uploader.token, data, { name: `scan-${size}.dcm`, recipients: [recipient.id] });
      expect(res.status, res.code).toBe(201);
      files.push({ id: res.file.id, cid: res.file.cid, data });
      // Acknowledged means held: at least R nodes pin it now, without waiting.
      expect(nodes.filter((node) => pins(node).includes(res.file.cid)).length).toBeGreaterThanOrEqual(2);
    }
    for (const node of nodes) {
      for (const file of files) {
        const got = await content(node, file.id, recipient.token);
        expect(got.status, `${node.name}: ${got.code}`).toBe(200);
        expect(sha256(got.body)).toBe(sha256(file.data));
      }
    }
  });

  it("anchors every upload once, through whichever instance holds the batcher lock, and receipts verify", async () => {
    const file = files[0];
    if (file === undefined) throw new Error("no file");
    const receipt = await waitFor(
      async () => {
        const res = await call(url(nodes[1] as Node), recipient.token, "GET", `/v1/files/${file.id}/receipt`);
        return res.status === 200 ? res.body : undefined;
      },
      30_000,
      "a receipt",
    );
    writeFileSync(path("file.bin"), file.data);
    writeFileSync(path("receipt.json"), JSON.stringify(receipt));
    const verified = await medvault(["verify", path("file.bin"), "--receipt", path("receipt.json"), "--rpc", chain.rpcUrl]);
    expect(verified.code, verified.stderr).toBe(0);
    const roles = await Promise.all(
      nodes.map(async (node) => ((await call(url(node), undefined, "GET", "/readyz")).body as { anchorer?: string }).anchorer),
    );
    expect(roles.sort()).toEqual(["active", "standby", "standby"]);
  });

  it("with the uploading node killed, every file still downloads, verified, and uploads go on at R = 2", async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    await a.served?.stop("SIGKILL");
    a.served = undefined;
    for (const node of [b, c]) {
      for (const file of files) {
        const got = await content(node, file.id, recipient.token);
        expect(got.status, `${node.name}: ${got.code}`).toBe(200);
        expect(sha256(got.body)).toBe(sha256(file.data));
      }
    }
    const data = randomBytes(2 * 1024 * 1024);
    const res = await upload(url(b), uploader.token, data, { name: "after.dcm", recipients: [recipient.id] });
    expect(res.status, res.code).toBe(201);
    expect([b, c].every((node) => pins(node).includes(res.file.cid))).toBe(true);
    files.push({ id: res.file.id, cid: res.file.cid, data });
    // The batcher lock moves to a live instance if the dead one held it: the new upload anchors.
    await waitFor(
      async () => {
        const r = await call(url(c), recipient.token, "GET", `/v1/files/${res.file.id}/receipt`);
        return r.status === 200 ? true : undefined;
      },
      30_000,
      "the new upload anchored",
    );
  });

  it("a node with another swarm key cannot join: it serves the catalog but gets no block from the swarm", async () => {
    const stranger: Node = { name: "d", dataDir: path("node-d"), ipfsPort: await freePort() };
    nodes.push(stranger);
    await start(stranger, path("other-swarm.key"));
    const file = files.at(-1);
    if (file === undefined) throw new Error("no file");
    const got = await content(stranger, file.id, recipient.token);
    expect(got.status).toBe(503);
    expect(got.code).toBe("BLOCKS_UNAVAILABLE");
    // The swarm never let it in: no peer connected to it, and it pinned nothing.
    expect(pins(stranger)).toEqual([]);
    await stranger.served?.stop("SIGKILL");
    stranger.served = undefined;
  });

  it("erasure unpins on every node, the one that was down included once it is back", async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const target = files[2];
    if (target === undefined) throw new Error("no file");
    expect(pins(a).includes(target.cid) || pins(b).includes(target.cid) || pins(c).includes(target.cid)).toBe(true);
    const erased = await call(url(c), privacy.token, "POST", `/v1/files/${target.id}/erasure`, { reason: "patient request 42" });
    expect(erased.status, erased.code).toBe(200);
    expect(pins(b)).not.toContain(target.cid);
    expect(pins(c)).not.toContain(target.cid);
    await start(a); // its start-up recovery drops pins the catalog no longer references
    expect(pins(a)).not.toContain(target.cid);
    for (const node of [a, b, c]) {
      expect((await content(node, target.id, recipient.token)).status).toBe(410);
      const other = files[1] as { id: string; data: Buffer };
      const got = await content(node, other.id, recipient.token);
      expect(sha256(got.body)).toBe(sha256(other.data));
    }
  });
});
