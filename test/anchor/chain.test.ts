import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChainClient, createChainClient, deployVaultAnchor } from "../../src/anchor/chain.ts";
import { type ErrorCode, isVaultError } from "../../src/errors.ts";
import { calldataGas, fundedKey, randomRoot, rawProvider, startTestChain, type TestChain, ZERO_ROOT } from "./fixture.ts";

async function codeOf(promise: Promise<unknown>): Promise<ErrorCode | "resolved"> {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    if (isVaultError(error)) return error.code;
    throw error;
  }
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

let chain: TestChain;
let ownerKey: string;
let client: ChainClient;

beforeAll(async () => {
  chain = await startTestChain();
  ownerKey = await fundedKey(chain.rpcUrl);
  client = await createChainClient({ rpcUrl: chain.rpcUrl, privateKey: ownerKey });
});

afterAll(async () => {
  client?.close();
  await chain?.stop();
});

describe("chain: VaultAnchor on a real anvil", () => {
  const root1 = randomRoot();
  const root2 = randomRoot();

  it("deploys; the deployer is owner and anchorer; batches start at 1", async () => {
    const address = await client.deploy();
    expect(address).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect(client.contract).toBe(address);
    expect(client.chainId()).toBe(31337);
    const state = await client.state();
    expect(state.nextBatchId).toBe(1);
    expect(state.lastRoot).toEqual(ZERO_ROOT);
    await client.checkContract();
  });

  it("anchors two chained batches", async () => {
    const b1 = await client.anchorBatch({ batchId: 1, root: root1, leafCount: 3, prevRoot: ZERO_ROOT });
    expect(b1.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(b1.blockHash).toMatch(/^0x[0-9a-f]{64}$/);
    const b2 = await client.anchorBatch({ batchId: 2, root: root2, leafCount: 10, prevRoot: root1 });
    expect(b2.blockNumber).toBeGreaterThan(b1.blockNumber);

    const info1 = await client.rootInfo(root1);
    expect(info1).toMatchObject({ batchId: 1, blockNumber: b1.blockNumber });
    expect(info1?.timestamp).toBeGreaterThan(1_600_000_000);
    expect(await client.rootInfo(root2)).toMatchObject({ batchId: 2, blockNumber: b2.blockNumber });
    expect(await client.rootInfo(randomRoot())).toBeNull();
    const state = await client.state();
    expect(state.nextBatchId).toBe(3);
    expect(state.lastRoot).toEqual(root2);
    expect(await client.blockNumber()).toBeGreaterThanOrEqual(b2.blockNumber);
  });

  it("a retry of an anchored batch returns its transaction instead of sending another", async () => {
    const before = await client.blockNumber();
    const again = await client.anchorBatch({ batchId: 2, root: root2, leafCount: 10, prevRoot: root1 });
    expect(await client.rootInfo(root2)).toMatchObject({ batchId: 2, blockNumber: again.blockNumber });
    expect(await client.blockNumber()).toBe(before);
  });

  it("batch id and prevRoot mismatches revert (CONFLICT)", async () => {
    expect(await codeOf(client.anchorBatch({ batchId: 4, root: randomRoot(), leafCount: 1, prevRoot: root2 }))).toBe("CONFLICT");
    expect(await codeOf(client.anchorBatch({ batchId: 2, root: randomRoot(), leafCount: 1, prevRoot: root1 }))).toBe("CONFLICT");
    expect(await codeOf(client.anchorBatch({ batchId: 3, root: randomRoot(), leafCount: 1, prevRoot: root1 }))).toBe("CONFLICT");
    // the same root twice, even under the right batch id and prevRoot
    expect(await codeOf(client.anchorBatch({ batchId: 3, root: root1, leafCount: 1, prevRoot: root2 }))).toBe("CONFLICT");
    expect((await client.state()).nextBatchId).toBe(3);
  });

  it("zero root and empty batches are refused", async () => {
    expect(await codeOf(client.anchorBatch({ batchId: 3, root: ZERO_ROOT, leafCount: 1, prevRoot: root2 }))).toBe("BAD_REQUEST");
    expect(await codeOf(client.anchorBatch({ batchId: 3, root: randomRoot(), leafCount: 0, prevRoot: root2 }))).toBe("BAD_REQUEST");
    expect(await codeOf(client.anchorBatch({ batchId: 3, root: new Uint8Array(31), leafCount: 1, prevRoot: root2 }))).toBe("BAD_REQUEST");
  });

  it("a non-anchorer reverts (FORBIDDEN) until the owner grants the role, and after it is revoked", async () => {
    const other = await createChainClient({
      rpcUrl: chain.rpcUrl,
      privateKey: await fundedKey(chain.rpcUrl),
      contract: client.contract as string,
    });
    try {
      const root3 = randomRoot();
      const batch3 = { batchId: 3, root: root3, leafCount: 1, prevRoot: root2 };
      expect(await codeOf(other.anchorBatch(batch3))).toBe("FORBIDDEN");
      expect(await codeOf(other.setAnchorer(other.account, true))).toBe("FORBIDDEN");

      await client.setAnchorer(other.account, true);
      await other.anchorBatch(batch3);
      expect(await other.rootInfo(root3)).toMatchObject({ batchId: 3 });

      await client.setAnchorer(other.account, false);
      expect(await codeOf(other.anchorBatch({ batchId: 4, root: randomRoot(), leafCount: 1, prevRoot: root3 }))).toBe("FORBIDDEN");
    } finally {
      other.close();
    }
  });

  it("gas per batch does not depend on leafCount", async () => {
    const provider = rawProvider(chain.rpcUrl);
    try {
      // Execution gas = gasUsed - 21,000 - calldata bytes; calldata differs only in how many of
      // its bytes are zero (random roots, leafCount 1 vs 0x0f4240).
      const execution = async (txHash: string, gasUsed: number) => {
        const tx = await provider.getTransaction(txHash);
        return gasUsed - 21_000 - calldataGas(tx?.data ?? "0x");
      };
      let { lastRoot: prevRoot, nextBatchId: batchId } = await client.state();
      const results: { leafCount: number; gasUsed: number; execution: number }[] = [];
      for (const leafCount of [1, 1_000_000, 1, 0xffff_ffff]) {
        const root = randomRoot();
        const batch = await client.anchorBatch({ batchId, root, leafCount, prevRoot });
        results.push({ leafCount, gasUsed: batch.gasUsed, execution: await execution(batch.txHash, batch.gasUsed) });
        prevRoot = root;
        batchId++;
      }
      console.info(`chain: gas per anchor ${results.map((r) => `${r.leafCount}: ${r.gasUsed} (execution ${r.execution})`).join(", ")}`);
      const executions = new Set(results.map((r) => r.execution));
      expect(executions.size).toBe(1);
      const gas = results.map((r) => r.gasUsed);
      expect(Math.max(...gas) - Math.min(...gas)).toBeLessThanOrEqual(12 * 136); // calldata only
    } finally {
      provider.destroy();
    }
  });

  it("deployVaultAnchor deploys a second, independent contract", async () => {
    const { address, chainId } = await deployVaultAnchor(chain.rpcUrl, ownerKey);
    expect(chainId).toBe(31337);
    expect(address).not.toBe(client.contract);
    const second = await createChainClient({ rpcUrl: chain.rpcUrl, privateKey: ownerKey, contract: address });
    try {
      expect((await second.state()).nextBatchId).toBe(1);
    } finally {
      second.close();
    }
  });

  it("an EOA is not a VaultAnchor (WRONG_CONTRACT)", async () => {
    const eoa = await createChainClient({ rpcUrl: chain.rpcUrl, privateKey: ownerKey, contract: client.account });
    try {
      expect(await codeOf(eoa.checkContract())).toBe("WRONG_CONTRACT");
    } finally {
      eoa.close();
    }
  });

  it("an unreachable endpoint is CHAIN_UNAVAILABLE", async () => {
    const rpcUrl = `http://127.0.0.1:${await closedPort()}`;
    expect(await codeOf(createChainClient({ rpcUrl, privateKey: ownerKey }))).toBe("CHAIN_UNAVAILABLE");
    const blind = await createChainClient({ rpcUrl, privateKey: ownerKey, chainId: 31337, contract: client.account });
    try {
      expect(await codeOf(blind.state())).toBe("CHAIN_UNAVAILABLE");
      expect(await codeOf(blind.anchorBatch({ batchId: 9, root: randomRoot(), leafCount: 1, prevRoot: ZERO_ROOT }))).toBe(
        "CHAIN_UNAVAILABLE",
      );
    } finally {
      blind.close();
    }
  });

  it("a key file's bare hex digits are accepted", async () => {
    const bare = await createChainClient({ rpcUrl: chain.rpcUrl, privateKey: `${ownerKey.slice(2)}\n` });
    try {
      expect(bare.account).toBe(client.account);
    } finally {
      bare.close();
    }
  });

  it("a bad private key is refused without echoing it", async () => {
    const error = await createChainClient({ rpcUrl: chain.rpcUrl, privateKey: "0x1234" }).catch((e: unknown) => e);
    expect(isVaultError(error, "BAD_REQUEST")).toBe(true);
    expect(String((error as Error).message)).not.toContain("1234");
  });
});
