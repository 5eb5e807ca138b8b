/**
 * The anchoring service the vault plugs in: which chain, which contract, which key; the batcher;
 * receipts, proofs and on-chain checks for reads; the certificate signer.
 *
 * Embedded (MEDVAULT_CHAIN_RPC unset): anvil on 127.0.0.1 with `--state $dataDir/chain/state.json`
 * (on the port it had last time when that is free, so `GET /v1/chain` stays stable), VaultAnchor
 * deployed on first start, its address and chain id kept in catalog meta. If anvil dies it is
 * started again from its state file by the next anchoring attempt; if its state is lost entirely
 * (no code at the remembered address) VaultAnchor is deployed again and every batch goes back
 * to sealed, to be anchored on the new contract. The anchorer is a key of our own in
 * `$dataDir/anchorer.key` (0600), funded on the dev chain with `anvil_setBalance`, not anvil's
 * well-known dev account: the same key signs erasure certificates, and a published key would let
 * anyone forge them. MEDVAULT_ANCHORER_KEY overrides it.
 *
 * External (MEDVAULT_CHAIN_RPC set): MEDVAULT_ANCHOR_CONTRACT (from `medvault chain deploy`) and
 * MEDVAULT_ANCHORER_KEY (0x hex, or the path of a file holding it) are required. A change of
 * chain or contract against what the catalog remembers sends every batch back to sealed.
 *
 * The chain never holds up start-up beyond the embedded anvil's own start, nor any upload.
 */

import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { getAddress, Wallet } from "ethers";
import type { Catalog, LeafKind } from "../catalog/index.ts";
import { isVaultError, VaultError } from "../errors.ts";
import { type AnvilProcess, startAnvil } from "./anvil.ts";
import { type Batcher, type BatcherLog, type BatcherOptions, batcherConfigFromEnv, createBatcher } from "./batcher.ts";
import { type CertificateSignature, type CertificateSigner, createCertificateSigner, parsePrivateKey } from "./certificate.ts";
import {
  type AbortOptions,
  type ChainClient,
  createChainClient,
  createProvider,
  fetchChainId,
  type RootInfo,
  readRootInfo,
} from "./chain.ts";
import type { Receipt } from "./receipt.ts";
import { type AnchorStatus, anchoredRoot, anchorStatus, buildReceipt, type ChainInfo, type EventProof, eventProof } from "./receipts.ts";

export const ANCHORER_KEY_FILE = "anchorer.key";
export const CHAIN_STATE_FILE = join("chain", "state.json");

const META = {
  contract: "anchor.contract",
  chainId: "anchor.chainId",
  port: "anchor.embeddedPort",
} as const;

/** 10,000 ETH: the embedded anchorer never runs dry (about 60,000 gas a batch). */
const DEV_BALANCE = "0x21e19e0c9bab2400000";
const ROOT_CACHE_MAX = 100_000;

export interface StartAnchoringOptions extends AbortOptions {
  dataDir: string;
  catalog: Catalog;
  /** Read for MEDVAULT_CHAIN_RPC, MEDVAULT_ANCHOR_CONTRACT, MEDVAULT_ANCHORER_KEY, MEDVAULT_BATCH_*, MEDVAULT_CONFIRMATIONS. */
  env: NodeJS.ProcessEnv;
  log?: BatcherLog;
  /** Tuning for tests (poll, reconcile and backoff intervals). */
  batcher?: Pick<BatcherOptions, "pollMs" | "reconcileMs" | "maxBackoffMs" | "stopTimeoutMs">;
}

export interface Anchoring {
  /** `GET /v1/chain`. Live: the embedded chain's rpc or contract may change after a restart. */
  readonly chainInfo: ChainInfo;
  readonly batcher: Batcher;
  /** The anchorer key as an EIP-191 signer for erasure certificates. */
  readonly signer: CertificateSigner;
  signCertificate(canonicalJson: string): Promise<CertificateSignature>;
  /** `roots(root)` on chain, or null; cached once it has the configured confirmations. */
  rootOnChain(root: Uint8Array, options?: AbortOptions): Promise<RootInfo | null>;
  /**
   * The read-path check of a file or event: the catalog's commitment, path and root agree, and
   * the root is on chain. A root missing on chain makes the leaf pending again (the batcher
   * re-anchors it). INTEGRITY_FAILED when the catalog disagrees with itself, GONE for an erased
   * file, CHAIN_UNAVAILABLE when the chain cannot be asked and the root is not cached.
   */
  checkAnchor(kind: LeafKind, ref: string, options?: AbortOptions): Promise<AnchorStatus>;
  /** `GET /v1/files/:id/receipt`: NOT_FOUND, GONE (erased), PENDING. */
  receipt(fileId: string): Receipt;
  /** `GET /v1/audit/:eventId/proof`: NOT_FOUND, PENDING. */
  eventProof(eventId: string): EventProof;
  /** Status for file views, from the catalog only. */
  anchorStatus(kind: LeafKind, ref: string): AnchorStatus;
  /** The embedded anvil while it runs (for operators and tests); undefined with MEDVAULT_CHAIN_RPC. */
  embeddedChain(): { pid: number; rpcUrl: string; stateFile: string } | undefined;
  /** Whether the chain answers now (`/readyz`); never throws. */
  ready(): Promise<boolean>;
  /** The vault's `AnchorHooks` (src/vault/vault.ts), ready to pass as `deps.anchor`. */
  readonly hooks: {
    status(kind: LeafKind, ref: string): AnchorStatus;
    verifyOnChain(file: { id: string }, options: AbortOptions): Promise<void>;
    sign(message: string): Promise<CertificateSignature>;
  };
  /** The HTTP app's `anchoring` dependency (src/http/app.ts): `/v1/chain`, receipts, proofs, readiness. */
  readonly http: {
    chainInfo(): ChainInfo;
    receipt(fileId: string): Promise<Receipt>;
    eventProof(eventId: string): Promise<EventProof>;
    ready(): Promise<boolean>;
    /** Whether this instance anchors, or stands by while another on the same catalog does. */
    anchorer(): "active" | "standby";
  };
  /** Stops the batcher (after the transaction in flight), then the embedded anvil (SIGTERM: state dumped). */
  stop(): Promise<void>;
}

/** A private key from MEDVAULT_ANCHORER_KEY: 0x hex (or bare hex), or the path of a file holding it. */
export function readAnchorerKey(value: string): string {
  const trimmed = value.trim();
  if (/^(?:0x)?[0-9a-fA-F]{64}$/.test(trimmed)) return parsePrivateKey(trimmed);
  let text: string;
  try {
    text = readFileSync(trimmed, "utf8");
  } catch (cause) {
    // The value is not echoed: it may be a mistyped key.
    throw new VaultError("BAD_REQUEST", "MEDVAULT_ANCHORER_KEY: neither a hex key nor a readable key file", { cause });
  }
  return parsePrivateKey(text, "MEDVAULT_ANCHORER_KEY file");
}

/** The embedded chain's anchorer key: `$dataDir/anchorer.key`, created (0600) on first start. */
export function loadOrCreateAnchorerKey(dataDir: string): string {
  const path = join(dataDir, ANCHORER_KEY_FILE);
  try {
    const key = parsePrivateKey(readFileSync(path, "utf8"), ANCHORER_KEY_FILE);
    chmodSync(path, 0o600);
    return key;
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOENT") {
      if (isVaultError(error)) throw error;
      throw new VaultError("IO_ERROR", `cannot read ${ANCHORER_KEY_FILE}`, { cause: error });
    }
  }
  mkdirSync(dataDir, { recursive: true });
  const key = Wallet.createRandom().privateKey;
  const fd = openSync(path, "wx", 0o600);
  try {
    writeSync(fd, `${key}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return key;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function checkContractAddress(value: string): string {
  try {
    return getAddress(value.trim());
  } catch (cause) {
    throw new VaultError("BAD_REQUEST", "MEDVAULT_ANCHOR_CONTRACT: not an address", { cause });
  }
}

/** Every anchored or final batch back to sealed: they are to be anchored on another contract. */
function resealAll(catalog: Catalog): number {
  return catalog.transaction(() => {
    const batches = [...catalog.batchesWithStatus("anchored"), ...catalog.batchesWithStatus("final")];
    for (const batch of batches) catalog.markSealed(batch.id);
    return batches.length;
  });
}

export async function startAnchoring(options: StartAnchoringOptions): Promise<Anchoring> {
  const { catalog, env, log, dataDir } = options;
  const config = batcherConfigFromEnv(env);
  const external = env.MEDVAULT_CHAIN_RPC !== undefined && env.MEDVAULT_CHAIN_RPC.trim() !== "";

  let privateKey: string;
  if (env.MEDVAULT_ANCHORER_KEY !== undefined && env.MEDVAULT_ANCHORER_KEY.trim() !== "") {
    privateKey = readAnchorerKey(env.MEDVAULT_ANCHORER_KEY);
  } else if (external) {
    throw new VaultError("BAD_REQUEST", "MEDVAULT_CHAIN_RPC is set: MEDVAULT_ANCHORER_KEY is required too");
  } else {
    privateKey = loadOrCreateAnchorerKey(dataDir);
  }
  const signer = createCertificateSigner(privateKey);

  const rememberedContract = catalog.getMeta(META.contract);
  const rememberedChainId = catalog.getMeta(META.chainId);
  let stopping = false;
  let rpcUrl: string;
  let chainId: number;
  let contract: string;

  // -------------------------------------------------------------------------------------------
  // embedded anvil

  let anvil: AnvilProcess | undefined;
  let starting: Promise<AnvilProcess> | undefined;
  const stateFile = join(dataDir, CHAIN_STATE_FILE);
  const pidFile = join(dataDir, "chain", "anvil.pid");

  async function launchAnvil(signal?: AbortSignal): Promise<AnvilProcess> {
    await stopOrphanAnvil(pidFile, stateFile);
    const remembered = Number(catalog.getMeta(META.port) ?? 0);
    // A fixed port is only tried when free: anvil failing to bind it must not leave us talking
    // to whatever else listens there.
    const port = remembered > 0 && (await portIsFree(remembered)) ? remembered : 0;
    const opts = { stateFile, ...(signal ? { signal } : {}) };
    let started: AnvilProcess;
    try {
      started = await startAnvil(port > 0 ? { ...opts, port } : opts);
    } catch (error) {
      if (port === 0 || signal?.aborted) throw error;
      started = await startAnvil(opts); // the old port is taken: any free one
    }
    catalog.setMeta(META.port, String(started.port));
    writeFileSync(pidFile, `${started.pid}\n`, { mode: 0o600 });
    const provider = createProvider(started.rpcUrl, 31337);
    try {
      await provider.send("anvil_setBalance", [signer.address, DEV_BALANCE]);
    } catch (error) {
      await started.stop();
      throw new VaultError("CHAIN_UNAVAILABLE", "the embedded chain refused to fund the anchorer", { cause: error });
    } finally {
      provider.destroy();
    }
    void started.exited.then((code) => {
      if (anvil !== started || stopping) return;
      anvil = undefined;
      log?.warn({ exit: code }, "anchoring: the embedded chain exited; it is started again from its state file");
      batcher.reconcileSoon();
    });
    anvil = started;
    rpcUrl = started.rpcUrl;
    return started;
  }

  function ensureAnvil(signal?: AbortSignal): Promise<AnvilProcess> {
    if (anvil !== undefined) return Promise.resolve(anvil);
    if (stopping) return Promise.reject(new VaultError("CHAIN_UNAVAILABLE", "anchoring is stopping"));
    starting ??= launchAnvil(signal).finally(() => {
      starting = undefined;
    });
    return starting;
  }

  /** Embedded: deploys VaultAnchor when the remembered one is gone (state lost); batches re-anchor. */
  async function ensureContract(client: ChainClient, signal?: AbortSignal): Promise<void> {
    const opts = signal ? { signal } : {};
    const hadContract = client.contract !== undefined;
    if (hadContract) {
      try {
        await client.checkContract(opts);
        return;
      } catch (error) {
        if (!isVaultError(error, "WRONG_CONTRACT") || external) throw error;
      }
    }
    const deployed = await client.deploy(opts);
    const lost = hadContract;
    contract = deployed;
    catalog.setMeta(META.contract, deployed);
    catalog.setMeta(META.chainId, String(chainId));
    const resealed = resealAll(catalog);
    if (lost || resealed > 0) {
      log?.warn({ contract: deployed, batches: resealed }, "anchoring: chain state lost; VaultAnchor deployed again, batches queued again");
    } else {
      log?.info({ contract: deployed }, "anchoring: VaultAnchor deployed on the embedded chain");
    }
  }

  async function connect(opts: AbortOptions): Promise<ChainClient> {
    if (!external) await ensureAnvil(opts.signal);
    const client = await createChainClient({ rpcUrl, privateKey, contract, chainId, ...opts });
    try {
      await ensureContract(client, opts.signal);
      return client;
    } catch (error) {
      client.close();
      throw error;
    }
  }

  if (external) {
    rpcUrl = (env.MEDVAULT_CHAIN_RPC as string).trim();
    if (env.MEDVAULT_ANCHOR_CONTRACT === undefined || env.MEDVAULT_ANCHOR_CONTRACT.trim() === "") {
      throw new VaultError(
        "BAD_REQUEST",
        "MEDVAULT_CHAIN_RPC is set: MEDVAULT_ANCHOR_CONTRACT is required (`medvault chain deploy` makes one)",
      );
    }
    contract = checkContractAddress(env.MEDVAULT_ANCHOR_CONTRACT);
    try {
      chainId = await fetchChainId(rpcUrl, options.signal ? { signal: options.signal } : {});
    } catch (error) {
      // Down at start: fine if we know this chain already; uploads do not wait for it.
      if (rememberedChainId === undefined || rememberedContract?.toLowerCase() !== contract.toLowerCase()) throw error;
      chainId = Number(rememberedChainId);
      log?.warn({ code: "CHAIN_UNAVAILABLE" }, "anchoring: chain unavailable at start; leaves queue until it is back");
    }
    if (rememberedContract !== contract || rememberedChainId !== String(chainId)) {
      const resealed = rememberedContract === undefined ? 0 : resealAll(catalog);
      catalog.setMeta(META.contract, contract);
      catalog.setMeta(META.chainId, String(chainId));
      if (resealed > 0) log?.warn({ contract, chainId, batches: resealed }, "anchoring: chain or contract changed; batches queued again");
    }
  } else {
    const started = await ensureAnvil(options.signal);
    rpcUrl = started.rpcUrl;
    chainId = await fetchChainId(rpcUrl, options.signal ? { signal: options.signal } : {});
    contract = rememberedContract ?? "";
    try {
      const client = await createChainClient({
        rpcUrl,
        privateKey,
        chainId,
        ...(rememberedContract === undefined ? {} : { contract: rememberedContract }),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      try {
        await ensureContract(client, options.signal);
      } finally {
        client.close();
      }
    } catch (error) {
      stopping = true;
      await started.stop();
      throw error;
    }
  }

  const batcher = createBatcher({ catalog, chain: connect, ...config, ...options.batcher, ...(log ? { log } : {}) });

  // -------------------------------------------------------------------------------------------
  // reads

  const rootCache = new Map<string, RootInfo>();
  let reader: { url: string; provider: ReturnType<typeof createProvider> } | undefined;

  function readerProvider() {
    if (reader === undefined || reader.url !== rpcUrl) {
      reader?.provider.destroy();
      reader = { url: rpcUrl, provider: createProvider(rpcUrl, chainId) };
    }
    return reader.provider;
  }

  async function rootOnChain(root: Uint8Array, opts: AbortOptions = {}): Promise<RootInfo | null> {
    const key = `${contract}:${Buffer.from(root).toString("hex")}`;
    const hit = rootCache.get(key);
    if (hit !== undefined) return hit;
    if (!external && anvil === undefined) throw new VaultError("CHAIN_UNAVAILABLE", "the embedded chain is restarting");
    const provider = readerProvider();
    const info = await readRootInfo(provider, contract, root, opts);
    if (info === null) return null;
    let depth = 1;
    if (config.confirmations > 1) {
      try {
        depth = (await provider.getBlockNumber()) - info.blockNumber + 1;
      } catch {
        depth = 0; // not cached; the answer itself stands
      }
    }
    if (depth >= config.confirmations) {
      if (rootCache.size >= ROOT_CACHE_MAX) rootCache.delete(rootCache.keys().next().value as string);
      rootCache.set(key, info);
    }
    return info;
  }

  // Live getters (enumerable, so JSON.stringify gives {"chainId", "contract", "rpc"}).
  const chainInfo = Object.defineProperties({} as ChainInfo, {
    chainId: { get: () => chainId, enumerable: true },
    contract: { get: () => contract, enumerable: true },
    ...(external ? {} : { rpc: { get: () => rpcUrl, enumerable: true } }),
  });

  async function ready(): Promise<boolean> {
    if (!external && anvil === undefined) return false;
    try {
      await fetchChainId(rpcUrl, { signal: AbortSignal.timeout(2000) });
      return true;
    } catch {
      return false;
    }
  }

  batcher.start();

  const anchoring: Anchoring = {
    chainInfo,
    batcher,
    signer,
    signCertificate: (json) => signer.signCertificate(json),
    rootOnChain,
    ready,
    embeddedChain: () => (anvil === undefined ? undefined : { pid: anvil.pid, rpcUrl: anvil.rpcUrl, stateFile }),

    async checkAnchor(kind, ref, opts = {}) {
      const anchored = anchoredRoot(catalog, kind, ref);
      if (anchored === undefined) return anchorStatus(catalog, kind, ref); // pending, or NOT_FOUND
      try {
        // Files: commitment = leaf, leaves give the stored root; events: the root only.
        if (kind === "file") buildReceipt(catalog, ref, chainInfo);
        else eventProof(catalog, ref, chainInfo);
      } catch (error) {
        if (isVaultError(error, "PENDING")) return { status: "pending" };
        throw error;
      }
      const info = await rootOnChain(anchored.root, opts);
      if (info === null) {
        batcher.reconcileSoon();
        return { status: "pending" };
      }
      return anchorStatus(catalog, kind, ref);
    },

    receipt: (fileId) => buildReceipt(catalog, fileId, chainInfo),
    eventProof: (eventId) => eventProof(catalog, eventId, chainInfo),
    anchorStatus: (kind, ref) => anchorStatus(catalog, kind, ref),

    hooks: {
      status: (kind, ref) => anchorStatus(catalog, kind, ref),
      async verifyOnChain(file, opts) {
        await anchoring.checkAnchor("file", file.id, opts);
      },
      sign: (message) => signer.signCertificate(message),
    },

    http: {
      chainInfo: () => ({ ...chainInfo }),
      receipt: async (fileId) => buildReceipt(catalog, fileId, chainInfo),
      eventProof: async (eventId) => eventProof(catalog, eventId, chainInfo),
      ready,
      anchorer: () => (batcher.status().leader ? "active" : "standby"),
    },

    async stop() {
      stopping = true;
      await batcher.stop();
      reader?.provider.destroy();
      reader = undefined;
      await starting?.catch(() => undefined);
      await anvil?.stop();
      anvil = undefined;
    },
  };
  return anchoring;
}

/**
 * A vault killed with SIGKILL leaves its anvil running (nothing tells a child its parent died).
 * The next start finds it by the pid file and stops it (SIGTERM: it dumps its state) before
 * starting a fresh one on the same state file. Only a process that is an anvil for this very
 * state file is touched.
 */
async function stopOrphanAnvil(pidFile: string, stateFile: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, "utf8").trim());
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1) return;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return; // gone already
  }
  if (!cmdline.includes("anvil") || !cmdline.includes(stateFile)) return;
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 50));
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
  }
  process.kill(pid, "SIGKILL");
}
