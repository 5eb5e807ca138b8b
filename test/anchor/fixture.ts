/**
 * A real anvil for the anchoring tests: free port on 127.0.0.1, its state in a temp dir,
 * stopped by its own PID. Keys are generated here and funded with anvil_setBalance.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JsonRpcProvider, Network, Wallet } from "ethers";
import { type AnvilProcess, startAnvil } from "../../src/anchor/anvil.ts";

export interface TestChain {
  anvil: AnvilProcess;
  dir: string;
  /** Where anvil keeps its state when started with `persistent`. */
  stateFile: string;
  rpcUrl: string;
  stop(): Promise<void>;
}

export async function startTestChain(options: { persistent?: boolean } = {}): Promise<TestChain> {
  const dir = mkdtempSync(join(tmpdir(), "medvault-anchor-"));
  const stateFile = join(dir, "chain", "state.json");
  const anvil = await startAnvil(options.persistent ? { stateFile } : {});
  return {
    anvil,
    dir,
    stateFile,
    rpcUrl: anvil.rpcUrl,
    async stop() {
      await anvil.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh random key holding 100 ETH on the test chain. */
export async function fundedKey(rpcUrl: string): Promise<string> {
  const wallet = Wallet.createRandom();
  const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: Network.from(31337), batchMaxCount: 1 });
  try {
    await provider.send("anvil_setBalance", [wallet.address, "0x56bc75e2d63100000"]);
  } finally {
    provider.destroy();
  }
  return wallet.privateKey;
}

export function rawProvider(rpcUrl: string): JsonRpcProvider {
  return new JsonRpcProvider(rpcUrl, undefined, {
    staticNetwork: Network.from(31337),
    batchMaxCount: 1,
    cacheTimeout: -1,
  });
}

export function randomRoot(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

export const ZERO_ROOT = new Uint8Array(32);

/** Intrinsic gas of a call's calldata (EIP-2028: 4 per zero byte, 16 per other byte). */
export function calldataGas(data: string): number {
  const bytes = Buffer.from(data.slice(2), "hex");
  let gas = 0;
  for (const b of bytes) gas += b === 0 ? 4 : 16;
  return gas;
}
