// `medvault verify`, `receipt` and `chain deploy` against a real anvil (and, for `receipt`, a real
// HTTP server on 127.0.0.1 standing in for the vault's receipt endpoint).

import { readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createBatcher } from "../../src/anchor/batcher.ts";
import { createChainClient, deployVaultAnchor } from "../../src/anchor/chain.ts";
import { fileCommitment } from "../../src/anchor/commitment.ts";
import { createReceipt, parseReceipt, type Receipt } from "../../src/anchor/receipt.ts";
import { buildReceipt } from "../../src/anchor/receipts.ts";
import { buildTree } from "../../src/anchor/tree.ts";
import { CHAIN_USAGE, chain as chainCommand, RECEIPT_USAGE, receipt as receiptCommand, VERIFY_USAGE, verify } from "../../src/cli/chain.ts";
import { VaultError } from "../../src/errors.ts";
import { medvault } from "../cli/run.ts";
import {
  type CommittedFile,
  codeOf,
  commitFile,
  fundedKey,
  openTestCatalog,
  startTestChain,
  type TestCatalog,
  type TestChain,
} from "./fixture.ts";

let testChain: TestChain;
let db: TestCatalog;
let file: CommittedFile;
let receipt: Receipt;
let key: string;
let contract: string;
let other: string;
const path = (name: string) => join(db.dir, name);

beforeAll(async () => {
  testChain = await startTestChain();
  key = await fundedKey(testChain.rpcUrl);
  contract = (await deployVaultAnchor(testChain.rpcUrl, key)).address;
  other = (await deployVaultAnchor(testChain.rpcUrl, key)).address;
  db = openTestCatalog();
  file = commitFile(db.catalog, db.owner, 5000);
  commitFile(db.catalog, db.owner);
  const client = await createChainClient({ rpcUrl: testChain.rpcUrl, privateKey: key, contract, chainId: 31337 });
  const batcher = createBatcher({ catalog: db.catalog, chain: client });
  await batcher.flush();
  await batcher.stop();
  client.close();
  receipt = buildReceipt(db.catalog, file.id);
  writeFileSync(path("scan.dcm"), file.plaintext);
  writeFileSync(path("receipt.json"), JSON.stringify(receipt));
});

afterAll(async () => {
  db?.cleanup();
  await testChain?.stop();
});

let stdout: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  stdout = [];
});
function captureStdout() {
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString());
    return true;
  });
}

function writeReceipt(name: string, r: object): string {
  writeFileSync(path(name), JSON.stringify(r));
  return path(name);
}

describe("medvault verify (the exported command)", () => {
  it("exit 0 and one line: batch, block, time", async () => {
    captureStdout();
    expect(await verify([path("scan.dcm"), "--receipt", path("receipt.json"), "--rpc", testChain.rpcUrl])).toBe(0);
    expect(stdout.join("")).toMatch(
      new RegExp(
        `^verified: batch ${receipt.batchId}, block ${receipt.blockNumber}, \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\\n$`,
      ),
    );
  });

  it("each failed check is named by its code", async () => {
    const changed = new Uint8Array(file.plaintext);
    changed[4999] = (changed[4999] as number) ^ 0x80;
    writeFileSync(path("changed.dcm"), changed);
    const run = (f: string, r: string) => codeOf(verify([f, "--receipt", r, "--rpc", testChain.rpcUrl]));
    expect(await run(path("changed.dcm"), path("receipt.json"))).toBe("HASH_MISMATCH");
    const badPath = receipt.path.map((p, i) => (i === 0 ? `${p[0] === "a" ? "b" : "a"}${p.slice(1)}` : p));
    expect(await run(path("scan.dcm"), writeReceipt("bad-path.json", { ...receipt, path: badPath }))).toBe("BAD_PROOF");
    expect(await run(path("scan.dcm"), writeReceipt("other.json", { ...receipt, contract: other }))).toBe("WRONG_CONTRACT");
    expect(await run(path("scan.dcm"), writeReceipt("chain.json", { ...receipt, chainId: 5 }))).toBe("WRONG_CHAIN");

    // A self-consistent receipt whose root was never anchored.
    const salt = crypto.getRandomValues(new Uint8Array(32));
    const commitment = fileCommitment({ salt, fileId: file.id, plaintextSha256: file.sha, payloadCid: receipt.payloadCid });
    const tree = buildTree([commitment, new Uint8Array(32)]);
    const unanchored = createReceipt({
      ...receipt,
      plaintextSha256: file.sha,
      salt,
      leafIndex: 0,
      treeSize: 2,
      path: tree.proof(0),
      root: tree.root,
    });
    expect(await run(path("scan.dcm"), writeReceipt("unanchored.json", unanchored))).toBe("ROOT_NOT_ON_CHAIN");
  });

  it("usage: --receipt and an RPC are required; --help prints the usage", async () => {
    expect(await codeOf(verify([path("scan.dcm"), "--rpc", testChain.rpcUrl]))).toBe("BAD_REQUEST");
    vi.stubEnv("MEDVAULT_CHAIN_RPC", "");
    expect(await codeOf(verify([path("scan.dcm"), "--receipt", path("receipt.json")]))).toBe("BAD_REQUEST");
    vi.unstubAllEnvs();
    captureStdout();
    expect(await verify(["--help"])).toBe(0);
    expect(stdout.join("")).toBe(`${VERIFY_USAGE}\n`);
    expect(await receiptCommand(["-h"])).toBe(0);
    expect(await chainCommand(["--help"])).toBe(0);
    expect(stdout.join("")).toContain(RECEIPT_USAGE);
    expect(stdout.join("")).toContain(CHAIN_USAGE);
  });
});

// Once the lead wires `verify` into src/cli/main.ts, the real binary is checked too.
const wired = readFileSync(join(import.meta.dirname, "../../src/cli/main.ts"), "utf8").includes("verify");

describe.skipIf(!wired)("medvault verify (the binary)", () => {
  it("exit 0 with the summary; exit 1 naming the code", async () => {
    const ok = await medvault(["verify", path("scan.dcm"), "--receipt", path("receipt.json"), "--rpc", testChain.rpcUrl]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout.toString()).toMatch(/^verified: batch \d+, block \d+, \S+Z\n$/);
    const bad = await medvault(["verify", path("changed.dcm"), "--receipt", path("receipt.json"), "--rpc", testChain.rpcUrl]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("HASH_MISMATCH");
    const wrong = await medvault(["verify", path("scan.dcm"), "--receipt", path("other.json"), "--rpc", testChain.rpcUrl]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("WRONG_CONTRACT");
  });
});

describe("medvault receipt", () => {
  let server: Server;
  let url: string;
  const seen: { auth: string | undefined; path: string | undefined }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ auth: req.headers.authorization, path: req.url });
      const id = /^\/v1\/files\/([^/]+)\/receipt$/.exec(req.url ?? "")?.[1];
      res.setHeader("content-type", "application/json");
      if (id === file.id) return res.end(JSON.stringify(receipt));
      if (id === "f_pending") {
        res.statusCode = 409;
        return res.end(JSON.stringify({ error: { code: "PENDING", message: "not anchored yet" } }));
      }
      if (id === "f_erased") {
        res.statusCode = 410;
        return res.end(JSON.stringify({ error: { code: "GONE", message: "the file was erased" } }));
      }
      res.statusCode = 404;
      res.end(JSON.stringify({ error: { code: "NOT_FOUND", message: "no such file" } }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    url = `http://127.0.0.1:${address.port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("fetches GET /v1/files/:id/receipt with the token and writes it (0600) for verify", async () => {
    vi.stubEnv("MEDVAULT_URL", `${url}/`);
    vi.stubEnv("MEDVAULT_TOKEN", "mvt_test_token_for_the_cli_000");
    try {
      expect(await receiptCommand([file.id, "-o", path("fetched.json")])).toBe(0);
    } finally {
      vi.unstubAllEnvs();
    }
    expect(seen.at(-1)).toEqual({ auth: "Bearer mvt_test_token_for_the_cli_000", path: `/v1/files/${file.id}/receipt` });
    expect(parseReceipt(readFileSync(path("fetched.json"), "utf8"))).toEqual(receipt);
    expect(statSync(path("fetched.json")).mode & 0o777).toBe(0o600);
    captureStdout();
    expect(await verify([path("scan.dcm"), "--receipt", path("fetched.json"), "--rpc", testChain.rpcUrl])).toBe(0);
  });

  it("the vault's error codes come through; no token is UNAUTHORIZED", async () => {
    vi.stubEnv("MEDVAULT_URL", url);
    vi.stubEnv("MEDVAULT_TOKEN", "");
    try {
      expect(await codeOf(receiptCommand(["f_erased"]))).toBe("UNAUTHORIZED");
      vi.stubEnv("MEDVAULT_TOKEN", "mvt_test_token_for_the_cli_000");
      expect(await codeOf(receiptCommand(["f_erased"]))).toBe("GONE");
      expect(await codeOf(receiptCommand(["f_pending"]))).toBe("PENDING");
      expect(await codeOf(receiptCommand(["f_unknown"]))).toBe("NOT_FOUND");
      expect(await codeOf(receiptCommand([]))).toBe("BAD_REQUEST");
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe("medvault chain deploy", () => {
  it("deploys a VaultAnchor with the key file's account and prints its address", async () => {
    writeFileSync(path("deployer.key"), `${key.slice(2)}\n`, { mode: 0o600 });
    captureStdout();
    expect(await chainCommand(["deploy", "--rpc", testChain.rpcUrl, "--key", path("deployer.key")])).toBe(0);
    const address = stdout.join("").trim();
    expect(address).toMatch(/^0x[0-9a-fA-F]{40}$/);
    const client = await createChainClient({ rpcUrl: testChain.rpcUrl, privateKey: key, contract: address });
    try {
      await client.checkContract();
      expect((await client.state()).nextBatchId).toBe(1);
    } finally {
      client.close();
    }
  });

  it("refuses a missing key file or subcommand without echoing anything secret", async () => {
    expect(await codeOf(chainCommand(["deploy", "--rpc", testChain.rpcUrl, "--key", path("nope.key")]))).toBe("NOT_FOUND");
    writeFileSync(path("garbage.key"), "not a key\n");
    const error = await chainCommand(["deploy", "--rpc", testChain.rpcUrl, "--key", path("garbage.key")]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VaultError);
    expect((error as VaultError).code).toBe("INVALID_KEY");
    expect((error as VaultError).message).not.toContain("not a key");
    expect(await codeOf(chainCommand(["launch"]))).toBe("BAD_REQUEST");
  });
});
