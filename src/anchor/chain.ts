/**
 * The VaultAnchor contract over JSON-RPC (ethers v6): deploy, anchor a batch, read roots.
 *
 * ethers traps avoided here (DESIGN.md, "Known traps"): request batching is off
 * (`batchMaxCount: 1`), the 250 ms result cache is off (`cacheTimeout: -1`, otherwise a
 * nonce or block number can be stale right after a transaction), and the network is static
 * once its chain id is known (otherwise an unreachable endpoint makes ethers retry network
 * detection forever, logging to the console). Nonces are owned by the client: one transaction
 * in flight, the next nonce read from the node ("pending") only when the previous one is mined,
 * so a failed or restarted chain cannot leave a stale local counter behind.
 *
 * Errors: unreachable endpoint → CHAIN_UNAVAILABLE; the contract's own reverts → CONFLICT
 * (batch id / prevRoot / root already anchored: reconcile and retry), FORBIDDEN (not anchorer,
 * not owner), BAD_REQUEST (zero root, empty batch); no code or not a VaultAnchor →
 * WRONG_CONTRACT.
 */

import {
  ContractFactory,
  FetchRequest,
  getAddress,
  getBytes,
  hexlify,
  Interface,
  isError,
  JsonRpcProvider,
  Network,
  type TransactionReceipt,
  Wallet,
  ZeroHash,
} from "ethers";
import artifact from "../../anchors/VaultAnchor.json" with { type: "json" };
import { abortable, sleep } from "../abort.ts";
import { assertBytes, type ErrorCode, isVaultError, VaultError } from "../errors.ts";

export const vaultAnchorAbi = artifact.abi;
export const vaultAnchorBytecode = artifact.bytecode;
export const vaultAnchorInterface: Interface = new Interface(artifact.abi);

export interface AnchorBatchInput {
  /** Must equal the contract's `nextBatchId` (the first batch is 1). */
  batchId: number;
  root: Uint8Array;
  leafCount: number;
  /** Root of the previous batch, 32 zero bytes before the first. */
  prevRoot: Uint8Array;
}

export interface AnchoredBatch {
  txHash: string;
  blockNumber: number;
  blockHash: string;
  gasUsed: number;
}

export interface RootInfo {
  batchId: number;
  /** Block timestamp, seconds since the epoch. */
  timestamp: number;
  blockNumber: number;
}

/** Where a root sits on chain, read back from its `BatchAnchored` log. */
export interface FoundAnchor extends AnchoredBatch {
  batchId: number;
  /** Block timestamp, seconds since the epoch. */
  timestamp: number;
  prevRoot: Uint8Array;
  leafCount: number;
}

export interface ChainState {
  nextBatchId: number;
  lastRoot: Uint8Array;
}

export interface AbortOptions {
  signal?: AbortSignal;
}

export interface ChainClientOptions {
  rpcUrl: string;
  /** Hex private key of the deployer / anchorer account. Never logged. */
  privateKey: string;
  /** VaultAnchor address; without it only `deploy()` and chain reads work until deploy. */
  contract?: string;
  /** Skip the eth_chainId probe when the chain id is already known. */
  chainId?: number;
  /** Receipt polling; default 100 ms on loopback, 2 s elsewhere. */
  pollingIntervalMs?: number;
  /** How long to wait for a transaction to be mined, default 120 s. */
  confirmTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface ChainClient {
  /** Address of the anchorer account. */
  readonly account: string;
  /** VaultAnchor address in use, once known. */
  readonly contract: string | undefined;
  deploy(options?: AbortOptions): Promise<string>;
  anchorBatch(input: AnchorBatchInput, options?: AbortOptions): Promise<AnchoredBatch>;
  state(options?: AbortOptions): Promise<ChainState>;
  rootInfo(root: Uint8Array, options?: AbortOptions): Promise<RootInfo | null>;
  /**
   * The anchoring of `root` (batch id, prevRoot, transaction), or null if the contract does not
   * know the root. Lets a caller adopt a batch that landed although its receipt was never seen.
   */
  findAnchor(root: Uint8Array, options?: AbortOptions): Promise<FoundAnchor | null>;
  setAnchorer(account: string, allowed: boolean, options?: AbortOptions): Promise<AnchoredBatch>;
  /** WRONG_CONTRACT unless the address holds a VaultAnchor. */
  checkContract(options?: AbortOptions): Promise<void>;
  chainId(): number;
  blockNumber(options?: AbortOptions): Promise<number>;
  close(): void;
}

// ---------------------------------------------------------------------------------------------
// Connection

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EPIPE",
  "TIMEOUT",
  "NETWORK_ERROR",
  "SERVER_ERROR",
  "CANCELLED",
]);

function isLoopback(rpcUrl: string): boolean {
  try {
    const host = new URL(rpcUrl).hostname;
    return host === "127.0.0.1" || host === "localhost" || host === "[::1]" || host.startsWith("127.");
  } catch {
    return false;
  }
}

/** Raw eth_chainId, so an unreachable endpoint fails fast instead of in ethers' retry loop. */
export async function fetchChainId(rpcUrl: string, options: AbortOptions = {}): Promise<number> {
  options.signal?.throwIfAborted();
  let request: FetchRequest;
  try {
    request = new FetchRequest(rpcUrl);
  } catch (cause) {
    throw new VaultError("BAD_REQUEST", "RPC URL is not a valid URL", { cause });
  }
  request.body = { jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] };
  request.timeout = 10_000;
  request.retryFunc = async () => false;
  const cancel = () => request.cancel();
  options.signal?.addEventListener("abort", cancel, { once: true });
  try {
    const response = await request.send();
    const result = (response.ok() ? (response.bodyJson as { result?: unknown }) : {}).result;
    if (typeof result !== "string" || !/^0x[0-9a-fA-F]+$/.test(result)) {
      throw new VaultError("CHAIN_UNAVAILABLE", `RPC endpoint gave no chain id (HTTP ${response.statusCode})`);
    }
    return Number(BigInt(result));
  } catch (error) {
    options.signal?.throwIfAborted();
    if (isVaultError(error)) throw error;
    throw new VaultError("CHAIN_UNAVAILABLE", "RPC endpoint unreachable", { cause: error });
  } finally {
    options.signal?.removeEventListener("abort", cancel);
  }
}

/** A provider tuned for sequential, fresh reads (see the module header). */
export function createProvider(rpcUrl: string, chainId: number, pollingIntervalMs?: number): JsonRpcProvider {
  const network = Network.from(chainId);
  return new JsonRpcProvider(rpcUrl, network, {
    staticNetwork: network,
    batchMaxCount: 1,
    cacheTimeout: -1,
    pollingInterval: pollingIntervalMs ?? defaultPollingMs(rpcUrl),
  });
}

function defaultPollingMs(rpcUrl: string): number {
  return isLoopback(rpcUrl) ? 100 : 2000;
}

/** Maps an ethers / network failure to a VaultError; VaultErrors and aborts pass through. */
export function chainError(error: unknown, what: string, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason;
  if (isVaultError(error)) return error;
  const revert = decodeRevert(error);
  if (revert !== null) {
    const code: ErrorCode =
      revert.name === "NotAnchorer" || revert.name === "NotOwner"
        ? "FORBIDDEN"
        : revert.name === "ZeroRoot" || revert.name === "EmptyBatch" || revert.name === "ZeroAddress"
          ? "BAD_REQUEST"
          : "CONFLICT";
    return new VaultError(code, `${what}: contract reverted with ${revert.name}(${revert.args.join(", ")})`, {
      cause: error,
    });
  }
  if (isNetworkError(error)) return new VaultError("CHAIN_UNAVAILABLE", `${what}: chain unavailable`, { cause: error });
  if (isError(error, "CALL_EXCEPTION")) {
    return new VaultError("CONFLICT", `${what}: transaction reverted`, { cause: error });
  }
  return new VaultError("INTERNAL", `${what} failed`, { cause: error });
}

function isNetworkError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e !== null && typeof e === "object" && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return true;
    e = (e as { cause?: unknown; error?: unknown }).cause ?? (e as { error?: unknown }).error;
  }
  return false;
}

export function decodeRevert(error: unknown): { name: string; args: string[] } | null {
  for (let e: unknown = error, depth = 0; e !== null && typeof e === "object" && depth < 5; depth++) {
    const data = (e as { data?: unknown }).data;
    if (typeof data === "string" && data.length >= 10) {
      try {
        const parsed = vaultAnchorInterface.parseError(data);
        if (parsed !== null) return { name: parsed.name, args: parsed.args.map((a: unknown) => String(a)) };
      } catch {
        // not one of ours
      }
    }
    e = (e as { info?: { error?: unknown } }).info?.error ?? (e as { error?: unknown }).error;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Reads shared with receipt verification

function checkAddress(address: string, title: string): string {
  try {
    return getAddress(address);
  } catch (cause) {
    throw new VaultError("BAD_REQUEST", `${title}: not an address`, { cause });
  }
}

async function callView(
  provider: JsonRpcProvider,
  contract: string,
  method: string,
  args: readonly unknown[],
): Promise<readonly unknown[]> {
  const data = vaultAnchorInterface.encodeFunctionData(method, args);
  const result = await provider.call({ to: contract, data });
  return vaultAnchorInterface.decodeFunctionResult(method, result);
}

/** WRONG_CONTRACT unless `contract` has code that answers VaultAnchor's views. */
export async function assertVaultAnchor(provider: JsonRpcProvider, contract: string, options: AbortOptions = {}) {
  const address = checkAddress(contract, "contract");
  try {
    const code = await abortable(provider.getCode(address), options.signal);
    if (code === "0x") throw new VaultError("WRONG_CONTRACT", "no contract code at the given address");
    await abortable(
      Promise.all([
        callView(provider, address, "nextBatchId", []),
        callView(provider, address, "lastRoot", []),
        callView(provider, address, "roots", [ZeroHash]),
      ]),
      options.signal,
    );
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (isVaultError(error)) throw error;
    if (isNetworkError(error)) throw new VaultError("CHAIN_UNAVAILABLE", "chain unavailable", { cause: error });
    throw new VaultError("WRONG_CONTRACT", "the contract at the given address is not a VaultAnchor", { cause: error });
  }
}

/** `roots(root)`, or null for a root the contract does not know. */
export async function readRootInfo(
  provider: JsonRpcProvider,
  contract: string,
  root: Uint8Array,
  options: AbortOptions = {},
): Promise<RootInfo | null> {
  assertBytes(root, 32, "root");
  try {
    const [batchId, timestamp, blockNumber] = (await abortable(callView(provider, contract, "roots", [hexlify(root)]), options.signal)) as [
      bigint,
      bigint,
      bigint,
    ];
    if (blockNumber === 0n) return null;
    return { batchId: Number(batchId), timestamp: Number(timestamp), blockNumber: Number(blockNumber) };
  } catch (error) {
    throw chainError(error, "roots()", options.signal);
  }
}

// ---------------------------------------------------------------------------------------------
// Client

export async function createChainClient(options: ChainClientOptions): Promise<ChainClient> {
  let wallet: Wallet;
  try {
    // Key files may hold the bare 64 hex digits.
    const key = options.privateKey.trim();
    wallet = new Wallet(/^[0-9a-fA-F]{64}$/.test(key) ? `0x${key}` : key);
  } catch {
    // no cause: it could echo the key
    throw new VaultError("BAD_REQUEST", "anchorer private key is not a valid secp256k1 key");
  }
  let contract = options.contract === undefined ? undefined : checkAddress(options.contract, "contract");
  const chainId = options.chainId ?? (await fetchChainId(options.rpcUrl, options.signal ? { signal: options.signal } : {}));
  const pollingMs = options.pollingIntervalMs ?? defaultPollingMs(options.rpcUrl);
  const confirmTimeoutMs = options.confirmTimeoutMs ?? 120_000;
  const provider = createProvider(options.rpcUrl, chainId, pollingMs);
  const signer = wallet.connect(provider);
  const account = signer.address;

  // One transaction in flight: every write runs after the previous one settled.
  let queue: Promise<unknown> = Promise.resolve();
  function serial<T>(task: () => Promise<T>): Promise<T> {
    const run = queue.then(task, task);
    queue = run.catch(() => undefined);
    return run;
  }
  // The last transaction sent and not known to be mined, so a retry after a timeout waits for
  // it instead of sending a second one.
  let unmined: { key: string; hash: string } | undefined;

  function requireContract(): string {
    if (contract === undefined) throw new VaultError("BAD_REQUEST", "no VaultAnchor address: deploy one or configure it");
    return contract;
  }

  async function waitMined(hash: string, signal: AbortSignal | undefined): Promise<TransactionReceipt> {
    const deadline = Date.now() + confirmTimeoutMs;
    for (;;) {
      const receipt = await abortable(provider.getTransactionReceipt(hash), signal);
      if (receipt !== null) return receipt;
      if (Date.now() > deadline) {
        throw new VaultError("CHAIN_UNAVAILABLE", `transaction ${hash} not mined within ${confirmTimeoutMs} ms`);
      }
      await sleep(pollingMs, signal);
    }
  }

  /** Sends with the node's pending nonce and waits until mined; reverts become VaultErrors. */
  async function transact(
    what: string,
    key: string,
    tx: { to?: string; data: string },
    signal: AbortSignal | undefined,
  ): Promise<TransactionReceipt> {
    try {
      let hash: string;
      if (unmined?.key === key && (await abortable(provider.getTransaction(unmined.hash), signal)) !== null) {
        hash = unmined.hash;
      } else {
        const nonce = await abortable(provider.getTransactionCount(account, "pending"), signal);
        const sent = await abortable(signer.sendTransaction({ ...tx, nonce }), signal);
        hash = sent.hash;
        unmined = { key, hash };
      }
      const receipt = await waitMined(hash, signal);
      unmined = undefined;
      if (receipt.status !== 1) throw new VaultError("CONFLICT", `${what}: transaction ${hash} reverted`);
      return receipt;
    } catch (error) {
      throw chainError(error, what, signal);
    }
  }

  async function findAnchorTx(batchId: number, root: Uint8Array, info: RootInfo, signal?: AbortSignal): Promise<FoundAnchor> {
    const address = requireContract();
    const topics = vaultAnchorInterface.encodeFilterTopics("BatchAnchored", [batchId, hexlify(root)]);
    const logs = await abortable(provider.getLogs({ address, topics, fromBlock: info.blockNumber, toBlock: info.blockNumber }), signal);
    const log = logs[0];
    if (log === undefined) {
      throw new VaultError("INTERNAL", `root of batch ${batchId} is on chain but its BatchAnchored log was not found`);
    }
    const event = vaultAnchorInterface.parseLog(log);
    const receipt = await abortable(provider.getTransactionReceipt(log.transactionHash), signal);
    return {
      batchId,
      timestamp: info.timestamp,
      prevRoot: getBytes(event?.args.getValue("prevRoot") as string),
      leafCount: Number(event?.args.getValue("leafCount")),
      txHash: log.transactionHash,
      blockNumber: log.blockNumber,
      blockHash: log.blockHash,
      gasUsed: receipt === null ? 0 : Number(receipt.gasUsed),
    };
  }

  const client: ChainClient = {
    account,
    get contract() {
      return contract;
    },

    deploy(opts = {}) {
      return serial(async () => {
        const { data } = await new ContractFactory(vaultAnchorAbi, vaultAnchorBytecode).getDeployTransaction();
        const receipt = await transact("deploy", "deploy", { data }, opts.signal);
        if (receipt.contractAddress === null) throw new VaultError("INTERNAL", "deployment created no contract");
        contract = getAddress(receipt.contractAddress);
        return contract;
      });
    },

    async anchorBatch(input, opts = {}) {
      const { batchId, leafCount } = input;
      if (!Number.isSafeInteger(batchId) || batchId < 1) throw new VaultError("BAD_REQUEST", "batchId: expected an integer ≥ 1");
      if (!Number.isInteger(leafCount) || leafCount < 1 || leafCount > 0xffff_ffff) {
        throw new VaultError("BAD_REQUEST", "leafCount: expected an integer in 1..2^32-1");
      }
      const root = assertBytes(input.root, 32, "root");
      const prevRoot = assertBytes(input.prevRoot, 32, "prevRoot");
      return serial(async () => {
        const address = requireContract();
        // Idempotent retry: the batch may have landed although we never saw the receipt.
        const existing = await client.rootInfo(root, opts);
        if (existing !== null) {
          if (existing.batchId === batchId) {
            const { txHash, blockNumber, blockHash, gasUsed } = await findAnchorTx(batchId, root, existing, opts.signal);
            return { txHash, blockNumber, blockHash, gasUsed };
          }
          throw new VaultError("CONFLICT", `root already anchored as batch ${existing.batchId}`);
        }
        const data = vaultAnchorInterface.encodeFunctionData("anchor", [batchId, hexlify(root), leafCount, hexlify(prevRoot)]);
        const receipt = await transact("anchor", `anchor:${batchId}:${hexlify(root)}`, { to: address, data }, opts.signal);
        return {
          txHash: receipt.hash,
          blockNumber: receipt.blockNumber,
          blockHash: receipt.blockHash,
          gasUsed: Number(receipt.gasUsed),
        };
      });
    },

    async state(opts = {}) {
      const address = requireContract();
      try {
        const [[next], [last]] = (await abortable(
          Promise.all([callView(provider, address, "nextBatchId", []), callView(provider, address, "lastRoot", [])]),
          opts.signal,
        )) as [[bigint], [string]];
        return { nextBatchId: Number(next), lastRoot: getBytes(last) };
      } catch (error) {
        throw chainError(error, "state()", opts.signal);
      }
    },

    async rootInfo(root, opts = {}) {
      return readRootInfo(provider, requireContract(), root, opts);
    },

    async findAnchor(root, opts = {}) {
      const info = await client.rootInfo(root, opts);
      if (info === null) return null;
      try {
        return await findAnchorTx(info.batchId, root, info, opts.signal);
      } catch (error) {
        throw chainError(error, "findAnchor()", opts.signal);
      }
    },

    async setAnchorer(who, allowed, opts = {}) {
      const target = checkAddress(who, "account");
      return serial(async () => {
        const data = vaultAnchorInterface.encodeFunctionData("setAnchorer", [target, allowed]);
        const receipt = await transact("setAnchorer", `setAnchorer:${target}:${allowed}`, { to: requireContract(), data }, opts.signal);
        return {
          txHash: receipt.hash,
          blockNumber: receipt.blockNumber,
          blockHash: receipt.blockHash,
          gasUsed: Number(receipt.gasUsed),
        };
      });
    },

    async checkContract(opts = {}) {
      return assertVaultAnchor(provider, requireContract(), opts);
    },

    chainId: () => chainId,

    async blockNumber(opts = {}) {
      try {
        return await abortable(provider.getBlockNumber(), opts.signal);
      } catch (error) {
        throw chainError(error, "blockNumber()", opts.signal);
      }
    },

    close() {
      provider.destroy();
    },
  };
  return client;
}

export interface DeployedVaultAnchor {
  address: string;
  chainId: number;
}

/** Deploys a fresh VaultAnchor whose owner and first anchorer is the key's account. */
export async function deployVaultAnchor(rpcUrl: string, privateKey: string, options: AbortOptions = {}): Promise<DeployedVaultAnchor> {
  const client = await createChainClient({ rpcUrl, privateKey, ...options });
  try {
    const address = await client.deploy(options);
    return { address, chainId: client.chainId() };
  } finally {
    client.close();
  }
}
