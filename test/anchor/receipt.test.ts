import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Wallet } from "ethers";
import { CID } from "multiformats/cid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChainClient, createChainClient, deployVaultAnchor } from "../../src/anchor/chain.ts";
import { fileCommitment } from "../../src/anchor/commitment.ts";
import { createReceipt, parseReceipt, type Receipt, sha256File, verifyReceipt } from "../../src/anchor/receipt.ts";
import { buildTree } from "../../src/anchor/tree.ts";
import { type ErrorCode, isVaultError } from "../../src/errors.ts";
import { fundedKey, rawProvider, startTestChain, type TestChain, ZERO_ROOT } from "./fixture.ts";

const sha256 = (data: Uint8Array) => new Uint8Array(createHash("sha256").update(data).digest());
const hexOf = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

async function codeOf(promise: Promise<unknown>): Promise<ErrorCode | "resolved"> {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    if (isVaultError(error)) return error.code;
    throw error;
  }
}

interface StoredFile {
  fileId: string;
  plaintext: Uint8Array;
  sha: Uint8Array;
  payloadCid: string;
  salt: Uint8Array;
}

function makeFile(i: number): StoredFile {
  const plaintext = randomBytes(1000 + i);
  const payloadDigest = sha256(randomBytes(64)); // stands in for the age payload's CID
  return {
    fileId: `f-${i}-${hexOf(randomBytes(4))}`,
    plaintext,
    sha: sha256(plaintext),
    payloadCid: CID.decode(Buffer.concat([Buffer.from("01551220", "hex"), payloadDigest])).toString(),
    salt: new Uint8Array(randomBytes(32)),
  };
}

let chain: TestChain;
let key: string;
let client: ChainClient;
const files = Array.from({ length: 5 }, (_, i) => makeFile(i));
const receipts: Receipt[] = [];

beforeAll(async () => {
  chain = await startTestChain();
  key = await fundedKey(chain.rpcUrl);
  client = await createChainClient({ rpcUrl: chain.rpcUrl, privateKey: key });
  await client.deploy();
  // One batch: five file commitments interleaved with two audit event hashes (7 leaves).
  const leaves: Uint8Array[] = [];
  const indexOf: number[] = [];
  files.forEach((file, i) => {
    if (i === 1 || i === 3) leaves.push(sha256(randomBytes(32)));
    indexOf.push(leaves.length);
    leaves.push(fileCommitment({ ...file, plaintextSha256: file.sha }));
  });
  const tree = buildTree(leaves);
  const anchored = await client.anchorBatch({ batchId: 1, root: tree.root, leafCount: leaves.length, prevRoot: ZERO_ROOT });
  files.forEach((file, i) => {
    const leafIndex = indexOf[i] as number;
    receipts.push(
      createReceipt({
        fileId: file.fileId,
        plaintextSha256: file.sha,
        payloadCid: file.payloadCid,
        salt: file.salt,
        leafIndex,
        treeSize: leaves.length,
        path: tree.proof(leafIndex),
        root: tree.root,
        batchId: 1,
        chainId: client.chainId(),
        contract: client.contract as string,
        txHash: anchored.txHash,
        blockNumber: anchored.blockNumber,
        blockHash: anchored.blockHash,
      }),
    );
  });
});

afterAll(async () => {
  client?.close();
  await chain?.stop();
});

const receipt0 = () => structuredClone(receipts[0] as Receipt);
const file0 = () => files[0] as StoredFile;

describe("receipt: verification against a real anvil", () => {
  it("accepts every correct receipt, through its JSON text", async () => {
    for (const [i, receipt] of receipts.entries()) {
      const text = JSON.stringify(receipt);
      const result = await verifyReceipt({
        plaintextSha256: (files[i] as StoredFile).sha,
        receipt: JSON.parse(text),
        rpcUrl: chain.rpcUrl,
      });
      expect(result.batchId).toBe(1);
      expect(result.blockNumber).toBe(receipt.blockNumber);
      expect(result.timestamp).toBeGreaterThan(1_600_000_000);
    }
  });

  it("one changed byte of the file → HASH_MISMATCH", async () => {
    const plaintext = Uint8Array.from(file0().plaintext);
    plaintext[500] = (plaintext[500] as number) ^ 1;
    expect(await codeOf(verifyReceipt({ plaintextSha256: sha256(plaintext), receipt: receipt0(), rpcUrl: chain.rpcUrl }))).toBe(
      "HASH_MISMATCH",
    );
  });

  it("a changed byte of the receipt's file hash → HASH_MISMATCH", async () => {
    const receipt = receipt0();
    receipt.plaintextSha256 = `${receipt.plaintextSha256.slice(0, 10)}${receipt.plaintextSha256[10] === "0" ? "1" : "0"}${receipt.plaintextSha256.slice(11)}`;
    expect(await codeOf(verifyReceipt({ plaintextSha256: file0().sha, receipt, rpcUrl: chain.rpcUrl }))).toBe("HASH_MISMATCH");
  });

  it("a changed path element → BAD_PROOF", async () => {
    const receipt = receipt0();
    const first = receipt.path[0] as string;
    receipt.path[0] = `${first[0] === "a" ? "b" : "a"}${first.slice(1)}`;
    expect(await codeOf(verifyReceipt({ plaintextSha256: file0().sha, receipt, rpcUrl: chain.rpcUrl }))).toBe("BAD_PROOF");
  });

  it("a missing path element, another leaf index, another salt or file id → BAD_PROOF", async () => {
    const variants: ((r: Receipt) => void)[] = [
      (r) => r.path.pop(),
      (r) => {
        r.leafIndex = 1;
      },
      (r) => {
        r.salt = hexOf(randomBytes(32));
      },
      (r) => {
        r.fileId = `${r.fileId}x`;
      },
      (r) => {
        r.commitment = hexOf(randomBytes(32));
      },
    ];
    for (const change of variants) {
      const receipt = receipt0();
      change(receipt);
      expect(await codeOf(verifyReceipt({ plaintextSha256: file0().sha, receipt, rpcUrl: chain.rpcUrl }))).toBe("BAD_PROOF");
    }
  });

  it("another chainId → WRONG_CHAIN", async () => {
    const receipt = { ...receipt0(), chainId: 1 };
    expect(await codeOf(verifyReceipt({ plaintextSha256: file0().sha, receipt, rpcUrl: chain.rpcUrl }))).toBe("WRONG_CHAIN");
  });

  it("an EOA or a contract that is not a VaultAnchor → WRONG_CONTRACT", async () => {
    const eoa = { ...receipt0(), contract: Wallet.createRandom().address };
    expect(await codeOf(verifyReceipt({ plaintextSha256: file0().sha, receipt: eoa, rpcUrl: chain.rpcUrl }))).toBe("WRONG_CONTRACT");
    // A contract whose whole code is STOP: it answers every call with nothing.
    const provider = rawProvider(chain.rpcUrl);
    try {
      const deployer = new Wallet(await fundedKey(chain.rpcUrl), provider);
      const tx = await deployer.sendTransaction({ data: "0x6001600c60003960016000f300" });
      const mined = await tx.wait();
      const other = { ...receipt0(), contract: mined?.contractAddress as string };
      expect(await provider.getCode(other.contract)).toBe("0x00");
      expect(await codeOf(verifyReceipt({ plaintextSha256: file0().sha, receipt: other, rpcUrl: chain.rpcUrl }))).toBe("WRONG_CONTRACT");
    } finally {
      provider.destroy();
    }
  });

  it("another VaultAnchor: WRONG_CONTRACT when the receipt's transaction shows the real one, else ROOT_NOT_ON_CHAIN", async () => {
    const { address } = await deployVaultAnchor(chain.rpcUrl, key);
    const receipt = { ...receipt0(), contract: address };
    expect(await codeOf(verifyReceipt({ plaintextSha256: file0().sha, receipt, rpcUrl: chain.rpcUrl }))).toBe("WRONG_CONTRACT");
    const unknownTx = { ...receipt, txHash: `0x${hexOf(randomBytes(32))}` };
    expect(await codeOf(verifyReceipt({ plaintextSha256: file0().sha, receipt: unknownTx, rpcUrl: chain.rpcUrl }))).toBe(
      "ROOT_NOT_ON_CHAIN",
    );
  });

  it("a consistent proof to a root that was never anchored → ROOT_NOT_ON_CHAIN", async () => {
    const file = makeFile(99);
    const tree = buildTree([fileCommitment({ ...file, plaintextSha256: file.sha }), sha256(randomBytes(8))]);
    const receipt = createReceipt({
      ...file,
      plaintextSha256: file.sha,
      leafIndex: 0,
      treeSize: 2,
      path: tree.proof(0),
      root: tree.root,
      batchId: 2,
      chainId: 31337,
      contract: client.contract as string,
      txHash: `0x${hexOf(randomBytes(32))}`,
      blockNumber: 5,
    });
    expect(await codeOf(verifyReceipt({ plaintextSha256: file.sha, receipt, rpcUrl: chain.rpcUrl }))).toBe("ROOT_NOT_ON_CHAIN");
  });

  it("an unreachable RPC endpoint → CHAIN_UNAVAILABLE (after the offline checks pass)", async () => {
    expect(await codeOf(verifyReceipt({ plaintextSha256: file0().sha, receipt: receipt0(), rpcUrl: "http://127.0.0.1:9" }))).toBe(
      "CHAIN_UNAVAILABLE",
    );
  });
});

describe("receipt: strict shape", () => {
  it("round-trips through JSON and has exactly the issue-4 fields (plus the optional blockHash)", () => {
    const receipt = receipt0();
    expect(parseReceipt(JSON.stringify(receipt))).toEqual(receipt);
    expect(Object.keys(receipt).sort()).toEqual(
      [
        "type",
        "fileId",
        "plaintextSha256",
        "payloadCid",
        "salt",
        "commitment",
        "leafIndex",
        "treeSize",
        "path",
        "root",
        "batchId",
        "chainId",
        "contract",
        "txHash",
        "blockNumber",
        "blockHash",
      ].sort(),
    );
    expect(receipt.type).toBe("medvault.receipt/v1");
    expect(receipt.plaintextSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(receipt.root).toMatch(/^[0-9a-f]{64}$/);
  });

  it("accepts a 0x prefix and upper case on its byte strings, and canonicalises them", () => {
    const receipt = receipt0();
    const loose = { ...receipt, root: `0x${receipt.root.toUpperCase()}`, salt: receipt.salt.toUpperCase() };
    expect(parseReceipt(loose)).toEqual(receipt);
  });

  const broken: [string, (r: Record<string, unknown>) => void][] = [
    ["unknown field", (r) => (r.extra = 1)],
    ["missing field", (r) => delete r.root],
    ["wrong type tag", (r) => (r.type = "medvault.receipt/v2")],
    ["short hash", (r) => (r.plaintextSha256 = "ab")],
    ["non-hex salt", (r) => (r.salt = "z".repeat(64))],
    ["path not an array", (r) => (r.path = "00")],
    ["path element short", (r) => (r.path = ["00"])],
    ["leafIndex ≥ treeSize", (r) => (r.leafIndex = r.treeSize)],
    ["negative leafIndex", (r) => (r.leafIndex = -1)],
    ["fractional batchId", (r) => (r.batchId = 1.5)],
    ["string chainId", (r) => (r.chainId = "31337")],
    ["bad address", (r) => (r.contract = "0x1234")],
    ["bad checksum", (r) => (r.contract = (r.contract as string).replace(/[a-f]/, (c) => c.toUpperCase()))],
    ["bad txHash", (r) => (r.txHash = "0x1234")],
    ["bad CID", (r) => (r.payloadCid = "not-a-cid")],
    ["empty fileId", (r) => (r.fileId = "")],
    ["NUL in fileId", (r) => (r.fileId = "a\u0000b")],
  ];
  it.each(broken)("%s → BAD_REQUEST", (_title, change) => {
    const receipt = receipt0() as unknown as Record<string, unknown>;
    change(receipt);
    let caught: unknown;
    try {
      parseReceipt(receipt);
    } catch (error) {
      caught = error;
    }
    expect(isVaultError(caught, "BAD_REQUEST")).toBe(true);
  });

  it("not JSON, not an object → BAD_REQUEST", () => {
    for (const value of ["{", "[]", "null", 42, null]) {
      expect(() => parseReceipt(value)).toThrow(expect.objectContaining({ code: "BAD_REQUEST" }) as Error);
    }
  });
});

describe("receipt: sha256File", () => {
  it("streams a file's SHA-256", async () => {
    const path = join(chain.dir, "scan.bin");
    const data = randomBytes(3 * (1 << 20) + 17);
    writeFileSync(path, data);
    expect(hexOf(await sha256File(path))).toBe(hexOf(sha256(data)));
    writeFileSync(path, new Uint8Array(0));
    expect(hexOf(await sha256File(path))).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  it("a missing file → NOT_FOUND, without its path in the message", async () => {
    const error = await sha256File(join(chain.dir, "patient-jane-doe.dcm")).catch((e: unknown) => e);
    expect(isVaultError(error, "NOT_FOUND")).toBe(true);
    expect((error as Error).message).not.toContain("jane");
  });
});
