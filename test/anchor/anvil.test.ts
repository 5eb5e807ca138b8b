import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type AnvilProcess, findAnvil, startAnvil } from "../../src/anchor/anvil.ts";
import { createChainClient } from "../../src/anchor/chain.ts";
import { isVaultError } from "../../src/errors.ts";
import { fundedKey, randomRoot, ZERO_ROOT } from "./fixture.ts";

const dir = mkdtempSync(join(tmpdir(), "medvault-anvil-"));
const started: AnvilProcess[] = [];

afterAll(async () => {
  for (const anvil of started) await anvil.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function start(stateFile?: string): Promise<AnvilProcess> {
  const anvil = await startAnvil(stateFile === undefined ? {} : { stateFile });
  started.push(anvil);
  return anvil;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves right after anvil's next periodic state dump (`--state-interval 1`). */
async function nextDump(stateFile: string): Promise<void> {
  const mtime = () => (existsSync(stateFile) ? statSync(stateFile).mtimeMs : 0);
  const before = mtime();
  const deadline = Date.now() + 5000;
  while (mtime() === before) {
    if (Date.now() > deadline) throw new Error("no state dump within 5 s");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("anvil: finding the binary", () => {
  it("prefers MEDVAULT_ANVIL_BIN, then the npm package", () => {
    const fake = join(dir, "fake-anvil");
    writeFileSync(fake, "#!/bin/sh\n");
    chmodSync(fake, 0o755);
    expect(findAnvil({ env: { MEDVAULT_ANVIL_BIN: fake } })).toBe(fake);
    expect(findAnvil({ env: {} })).toMatch(/@foundry-rs\/anvil-linux-amd64\/bin\/anvil$/);
  });

  it("a MEDVAULT_ANVIL_BIN that is not executable is UNSUPPORTED", () => {
    let caught: unknown;
    try {
      findAnvil({ env: { MEDVAULT_ANVIL_BIN: join(dir, "missing") } });
    } catch (error) {
      caught = error;
    }
    expect(isVaultError(caught, "UNSUPPORTED")).toBe(true);
  });

  it("a binary that does not start is CHAIN_UNAVAILABLE", async () => {
    const error = await startAnvil({ bin: join(dir, "missing") }).catch((e: unknown) => e);
    expect(isVaultError(error, "CHAIN_UNAVAILABLE")).toBe(true);
  });
});

describe("anvil: lifecycle on 127.0.0.1", () => {
  it("starts on a free port, answers JSON-RPC, stops by SIGTERM", async () => {
    const [a, b] = await Promise.all([start(), start()]);
    if (a === undefined || b === undefined) throw new Error("unreachable");
    expect(a.rpcUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(a.port).not.toBe(b.port);
    expect(isAlive(a.pid)).toBe(true);
    await a.stop();
    expect(await a.exited).toBe(0);
    expect(isAlive(a.pid)).toBe(false);
    await a.stop(); // idempotent
    await b.stop();
  });

  it("an aborted start leaves no process behind", async () => {
    const controller = new AbortController();
    const starting = startAnvil({ signal: controller.signal });
    controller.abort(new Error("test abort"));
    await expect(starting).rejects.toThrow("test abort");
  });

  it("SIGKILL after a state dump loses later batches; a restart from the state file keeps the earlier root", async () => {
    const stateFile = join(dir, "chain", "state.json");
    const key = await (async () => {
      const anvil = await start(stateFile);
      const funded = await fundedKey(anvil.rpcUrl);
      const client = await createChainClient({ rpcUrl: anvil.rpcUrl, privateKey: funded });
      const contract = await client.deploy();
      const root1 = randomRoot();
      await client.anchorBatch({ batchId: 1, root: root1, leafCount: 5, prevRoot: ZERO_ROOT });
      await nextDump(stateFile); // batch 1 is in this dump
      await nextDump(stateFile); // (the dump that started before batch 1 may have ended after it)
      const root2 = randomRoot();
      await client.anchorBatch({ batchId: 2, root: root2, leafCount: 5, prevRoot: root1 });
      expect(await client.rootInfo(root2)).not.toBeNull();
      process.kill(anvil.pid, "SIGKILL"); // well within the next 1 s interval
      expect(await anvil.exited).toBe("SIGKILL");
      client.close();
      return { funded, contract, root1, root2 };
    })();

    const restarted = await start(stateFile);
    const client = await createChainClient({ rpcUrl: restarted.rpcUrl, privateKey: key.funded, contract: key.contract });
    try {
      expect(await client.rootInfo(key.root1)).toMatchObject({ batchId: 1 });
      expect(await client.rootInfo(key.root2)).toBeNull();
      const state = await client.state();
      expect(state.nextBatchId).toBe(2);
      expect(state.lastRoot).toEqual(key.root1);
      // The lost batch is simply anchored again, with the account's nonce read afresh.
      await client.anchorBatch({ batchId: 2, root: key.root2, leafCount: 5, prevRoot: key.root1 });
      expect(await client.rootInfo(key.root2)).toMatchObject({ batchId: 2 });
    } finally {
      client.close();
    }

    // A clean stop (SIGTERM) dumps the state: batch 2 survives this restart.
    await restarted.stop();
    const again = await start(stateFile);
    const reader = await createChainClient({ rpcUrl: again.rpcUrl, privateKey: key.funded, contract: key.contract });
    try {
      expect(await reader.rootInfo(key.root2)).toMatchObject({ batchId: 2 });
      expect((await reader.state()).nextBatchId).toBe(3);
    } finally {
      reader.close();
    }
  });
});
