/**
 * The batcher: turns the catalog's durable leaf queue into anchored Merkle batches (DESIGN.md,
 * "Integrity and anchoring"; issue 4).
 *
 * One loop, one transaction in flight:
 *   1. seal: a batch closes at `maxLeaves` leaves, or when the oldest pending leaf is `maxMs`
 *      old; its RFC 9162 root is computed here and the batch sealed in the catalog (one SQLite
 *      transaction). While an earlier batch still waits for the chain, a partial batch is not
 *      closed: leaves keep filling it, so an outage ends in a few large transactions rather than
 *      one per `maxMs`.
 *   2. anchor: sealed batches oldest first, with the contract's own `nextBatchId` and
 *      `lastRoot`, so a chain that lost state (dev chain) simply gets the batches again under
 *      its current ids. A batch whose root is already on chain (sent, then a crash before the
 *      catalog heard of it) is adopted from its `BatchAnchored` log instead of sent twice.
 *   3. confirm: anchored → final once `tip - block + 1 >= confirmations`, re-reading the root
 *      first (a reorg may have dropped or moved it).
 *   4. reconcile, on start, every `reconcileMs` and after errors: a root the chain does not know
 *      sends its batch back to sealed, to be anchored again. The periodic check reads only the
 *      newest anchored root: a chain loses a suffix of its history (reorg, dev-chain state
 *      restored from an older dump), so if the newest root is there, so are the older ones. When
 *      it is missing, or on start, every anchored and final root is read.
 *
 * The chain never blocks uploads: they only append to the queue. While the chain is down the
 * loop retries with exponential backoff (capped at `maxBackoffMs`) and leaves stay pending.
 */

import type { Batch, Catalog } from "../catalog/index.ts";
import { isVaultError, VaultError } from "../errors.ts";
import type { AbortOptions, ChainClient, FoundAnchor } from "./chain.ts";
import { buildTree } from "./tree.ts";

/**
 * The part of the catalog the batcher uses. `tryLead` (PostgreSQL catalogs shared by several
 * instances) elects the one instance that seals and anchors; without it this one always does.
 */
export type BatcherCatalog = Pick<
  Catalog,
  "pendingLeaves" | "countPendingLeaves" | "sealBatch" | "getBatch" | "batchesWithStatus" | "markAnchored" | "markFinal" | "markSealed"
> &
  Partial<Pick<Catalog, "tryLead">>;

/** A connected client, or a factory that may fail (CHAIN_UNAVAILABLE) while the chain is down. */
export type ChainSource = ChainClient | ((options: AbortOptions) => Promise<ChainClient>);

/** pino-compatible: `log.info({ batchId }, "…")`. Never given keys, tokens or plaintext. */
export interface BatcherLog {
  info(data: object, message: string): void;
  warn(data: object, message: string): void;
}

export interface BatcherConfig {
  /** MEDVAULT_BATCH_MAX_LEAVES, default 10,000. */
  maxLeaves: number;
  /** MEDVAULT_BATCH_MAX_MS, default 2,000. */
  maxMs: number;
  /** MEDVAULT_CONFIRMATIONS, default 1. */
  confirmations: number;
}

export interface BatcherOptions extends Partial<BatcherConfig> {
  catalog: BatcherCatalog;
  chain: ChainSource;
  log?: BatcherLog;
  /** How often the queue is looked at when nothing wakes the loop; default min(250, maxMs / 4) ms. */
  pollMs?: number;
  /** Periodic reconciliation with the chain; default 5,000 ms. */
  reconcileMs?: number;
  /** Cap of the retry backoff while the chain fails; default 5,000 ms. */
  maxBackoffMs?: number;
  /** How long `stop()` waits for the transaction in flight before aborting it; default 15,000 ms. */
  stopTimeoutMs?: number;
  /** Clock in ms; default `Date.now`. */
  now?: () => number;
}

export interface BatcherStatus {
  running: boolean;
  /** Whether this instance anchors (false while another instance on the same catalog does). */
  leader: boolean;
  /** "unknown" until the first chain call of this process. */
  chain: "up" | "down" | "unknown";
  pendingLeaves: number;
  sealedBatches: number;
  anchoredBatches: number;
  lastAnchor?: { batchId: number; chainBatchId: number; leafCount: number; txHash: string; blockNumber: number; at: string };
  lastError?: { code: string; message: string; at: string };
}

export interface FlushOptions extends AbortOptions {
  /** Give up (CHAIN_UNAVAILABLE, the last failure as cause) after this long; default: never. */
  timeoutMs?: number;
}

export interface Batcher {
  readonly config: Readonly<BatcherConfig>;
  /** Starts the loop (reconciling first). Returns at once: the chain may still be down. */
  start(): void;
  /** Stops the loop after the transaction in flight. Idempotent. */
  stop(): Promise<void>;
  /** Seals every pending leaf now and anchors every sealed batch; retries until done. */
  flush(options?: FlushOptions): Promise<void>;
  /** Wakes the loop to look at the queue (call after committing leaves; optional). */
  notify(): void;
  /** Asks for a full reconciliation on the next pass (e.g. a read found a root missing). */
  reconcileSoon(): void;
  status(): BatcherStatus;
}

export const DEFAULT_BATCHER_CONFIG: Readonly<BatcherConfig> = { maxLeaves: 10_000, maxMs: 2_000, confirmations: 1 };

const MAX_LEAF_COUNT = 0xffff_ffff; // the contract's uint32 leafCount
const RECONCILE_CONCURRENCY = 8;

/** Batcher settings from MEDVAULT_BATCH_MAX_LEAVES, MEDVAULT_BATCH_MAX_MS, MEDVAULT_CONFIRMATIONS. */
export function batcherConfigFromEnv(env: NodeJS.ProcessEnv): BatcherConfig {
  const read = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === "") return fallback;
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new VaultError("BAD_REQUEST", `${name}: expected an integer in ${min}..${max}`);
    }
    return value;
  };
  return {
    maxLeaves: read("MEDVAULT_BATCH_MAX_LEAVES", DEFAULT_BATCHER_CONFIG.maxLeaves, 1, MAX_LEAF_COUNT),
    maxMs: read("MEDVAULT_BATCH_MAX_MS", DEFAULT_BATCHER_CONFIG.maxMs, 1, 24 * 3600 * 1000),
    confirmations: read("MEDVAULT_CONFIRMATIONS", DEFAULT_BATCHER_CONFIG.confirmations, 1, 10_000),
  };
}

function checkOption(value: number, title: string, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new VaultError("BAD_REQUEST", `${title}: expected an integer in ${min}..${max}`);
  }
  return value;
}

export function createBatcher(options: BatcherOptions): Batcher {
  const { catalog } = options;
  const config: BatcherConfig = {
    maxLeaves: checkOption(options.maxLeaves ?? DEFAULT_BATCHER_CONFIG.maxLeaves, "maxLeaves", 1, MAX_LEAF_COUNT),
    maxMs: checkOption(options.maxMs ?? DEFAULT_BATCHER_CONFIG.maxMs, "maxMs", 1, Number.MAX_SAFE_INTEGER),
    confirmations: checkOption(options.confirmations ?? DEFAULT_BATCHER_CONFIG.confirmations, "confirmations", 1, 1_000_000),
  };
  const pollMs = options.pollMs ?? Math.max(10, Math.min(250, Math.floor(config.maxMs / 4)));
  const reconcileMs = options.reconcileMs ?? 5_000;
  const maxBackoffMs = options.maxBackoffMs ?? 5_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 15_000;
  const now = options.now ?? Date.now;
  const log = options.log;
  const source = options.chain;

  let client: ChainClient | undefined = typeof source === "function" ? undefined : source;
  let running = false;
  let stopping = false; // ends flush() retries too
  let loop: Promise<void> | undefined;
  let abort = new AbortController();
  let wakeUp: (() => void) | undefined; // ends the current idle sleep (not a backoff)
  let endSleep: (() => void) | undefined; // ends any sleep (stop)

  // Clock of the oldest pending leaf: the queue stores no times, so it is when this process first
  // saw the queue non-empty (or −∞ for leaves left from before a restart: they are old).
  let pendingSince: number | undefined;
  let firstLook = true;
  // Chain state as of our last successful anchor; saves two reads per batch, dropped on any error.
  let expected: { nextBatchId: number; lastRoot: Uint8Array } | undefined;
  let fullReconcileDue = true;
  let lastReconcileAt = Number.NEGATIVE_INFINITY;
  let newestAnchoredId: number | undefined;
  let chainState: BatcherStatus["chain"] = "unknown";
  let lastAnchor: BatcherStatus["lastAnchor"];
  let lastError: BatcherStatus["lastError"];
  let failures = 0;
  let leader = false;

  // One pass at a time, whether from the loop or from flush().
  let lock: Promise<unknown> = Promise.resolve();
  function exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = lock.then(task, task);
    lock = run.catch(() => undefined);
    return run;
  }

  // ---------------------------------------------------------------------------------------------
  // 1. seal

  function sealDue(force: boolean): void {
    for (;;) {
      const count = catalog.countPendingLeaves();
      if (count === 0) {
        pendingSince = undefined;
        firstLook = false;
        return;
      }
      if (pendingSince === undefined) pendingSince = firstLook ? Number.NEGATIVE_INFINITY : now();
      firstLook = false;
      const full = count >= config.maxLeaves;
      const due = force || (now() - pendingSince >= config.maxMs && catalog.batchesWithStatus("sealed").length === 0);
      if (!full && !due) return;
      const leaves = catalog.pendingLeaves(config.maxLeaves);
      const tree = buildTree(leaves.map((leaf) => leaf.value));
      catalog.sealBatch({ leafSeqs: leaves.map((leaf) => leaf.seq), root: tree.root });
      // What is left arrived after the oldest leaf: its clock starts now (a little late, never early).
      pendingSince = leaves.length < count ? now() : undefined;
      if (leaves.length >= count) return;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // chain access

  async function connect(signal: AbortSignal): Promise<ChainClient> {
    if (client !== undefined) return client;
    if (typeof source !== "function") return source;
    client = await source({ signal });
    return client;
  }

  function chainIdentity(c: ChainClient): { chainId: number; contract: string } {
    const contract = c.contract;
    if (contract === undefined) throw new VaultError("BAD_REQUEST", "the chain client has no VaultAnchor address");
    return { chainId: c.chainId(), contract };
  }

  function adopt(batch: Batch, found: FoundAnchor, c: ChainClient): Batch {
    if (batch.status === "final") catalog.markSealed(batch.id);
    const anchored = catalog.markAnchored(batch.id, {
      chainBatchId: found.batchId,
      prevRoot: found.prevRoot,
      txHash: found.txHash,
      blockNumber: found.blockNumber,
      blockHash: found.blockHash,
      ...chainIdentity(c),
    });
    newestAnchoredId = Math.max(newestAnchoredId ?? 0, batch.id);
    return anchored;
  }

  // ---------------------------------------------------------------------------------------------
  // 2. anchor

  async function anchorOne(c: ChainClient, batch: Batch, signal: AbortSignal): Promise<void> {
    const state = expected ?? (await c.state({ signal }));
    let anchored: Batch;
    try {
      const tx = await c.anchorBatch(
        { batchId: state.nextBatchId, root: batch.root, leafCount: batch.leafCount, prevRoot: state.lastRoot },
        { signal },
      );
      anchored = catalog.markAnchored(batch.id, {
        chainBatchId: state.nextBatchId,
        prevRoot: state.lastRoot,
        txHash: tx.txHash,
        blockNumber: tx.blockNumber,
        blockHash: tx.blockHash,
        ...chainIdentity(c),
      });
      newestAnchoredId = Math.max(newestAnchoredId ?? 0, batch.id);
      expected = { nextBatchId: state.nextBatchId + 1, lastRoot: batch.root };
    } catch (error) {
      expected = undefined;
      // Already on chain under another id (sent before a crash): adopt it. Otherwise our view of
      // nextBatchId/lastRoot was stale; the retry reads them again.
      if (!isVaultError(error, "CONFLICT")) throw error;
      const found = await c.findAnchor(batch.root, { signal });
      if (found === null) throw error;
      anchored = adopt(batch, found, c);
    }
    if (config.confirmations <= 1) anchored = catalog.markFinal(batch.id);
    lastAnchor = {
      batchId: anchored.id,
      chainBatchId: anchored.chainBatchId ?? 0,
      leafCount: anchored.leafCount,
      txHash: anchored.txHash ?? "",
      blockNumber: anchored.blockNumber ?? 0,
      at: new Date(now()).toISOString(),
    };
    log?.info(
      {
        batch: anchored.id,
        chainBatchId: anchored.chainBatchId,
        leaves: anchored.leafCount,
        txHash: anchored.txHash,
        block: anchored.blockNumber,
      },
      "anchoring: batch anchored",
    );
  }

  // ---------------------------------------------------------------------------------------------
  // 3. confirm

  async function confirm(c: ChainClient, signal: AbortSignal): Promise<void> {
    const anchored = catalog.batchesWithStatus("anchored");
    if (anchored.length === 0) return;
    if (config.confirmations <= 1) {
      // Mined means one confirmation; presence on chain is the reconciler's job.
      for (const batch of anchored) catalog.markFinal(batch.id);
      return;
    }
    const tip = await c.blockNumber({ signal });
    for (const batch of anchored) {
      if (tip - (batch.blockNumber ?? tip) + 1 < config.confirmations) continue;
      await recheck(c, batch, signal, true);
    }
  }

  /** Re-reads a batch's root: missing → sealed; moved (reorg) → new anchor data; else final if asked. */
  async function recheck(c: ChainClient, batch: Batch, signal: AbortSignal, finalize: boolean): Promise<boolean> {
    const identity = chainIdentity(c);
    const ours = batch.chainId === identity.chainId && batch.contract?.toLowerCase() === identity.contract.toLowerCase();
    const info = ours ? await c.rootInfo(batch.root, { signal }) : null;
    if (info === null) {
      catalog.markSealed(batch.id);
      expected = undefined;
      log?.warn({ batch: batch.id, chainBatchId: batch.chainBatchId }, "anchoring: root no longer on chain; anchoring it again");
      return false;
    }
    if (info.blockNumber !== batch.blockNumber || info.batchId !== batch.chainBatchId) {
      const found = await c.findAnchor(batch.root, { signal });
      if (found === null) return recheck(c, batch, signal, finalize);
      adopt(batch, found, c);
      return true;
    }
    if (finalize && batch.status === "anchored") catalog.markFinal(batch.id);
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // 4. reconcile

  async function reconcile(c: ChainClient, signal: AbortSignal): Promise<void> {
    if (!fullReconcileDue && newestAnchoredId !== undefined) {
      const newest = catalog.getBatch(newestAnchoredId);
      if (newest !== undefined && newest.status !== "sealed" && (await recheck(c, newest, signal, false))) {
        lastReconcileAt = now();
        return;
      }
    }
    if (!fullReconcileDue && newestAnchoredId === undefined) {
      lastReconcileAt = now();
      return;
    }
    const batches = [...catalog.batchesWithStatus("anchored"), ...catalog.batchesWithStatus("final")].sort((a, b) => a.id - b.id);
    let next = 0;
    let missing = 0;
    const worker = async () => {
      while (next < batches.length) {
        const batch = batches[next++] as Batch;
        if (!(await recheck(c, batch, signal, false))) missing++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(RECONCILE_CONCURRENCY, batches.length) }, worker));
    newestAnchoredId = undefined;
    for (const batch of batches) {
      if (catalog.getBatch(batch.id)?.status !== "sealed") newestAnchoredId = Math.max(newestAnchoredId ?? 0, batch.id);
    }
    if (missing > 0) log?.warn({ batches: missing }, "anchoring: roots missing on chain were queued again");
    fullReconcileDue = false;
    lastReconcileAt = now();
  }

  // ---------------------------------------------------------------------------------------------
  // one pass

  /** Returns whether the chain was used (so a success says something about it). */
  async function pass(force: boolean, signal: AbortSignal): Promise<boolean> {
    sealDue(force);
    const sealed = catalog.batchesWithStatus("sealed");
    const reconcileDue = fullReconcileDue || now() - lastReconcileAt >= reconcileMs;
    const unconfirmed = config.confirmations > 1 && catalog.batchesWithStatus("anchored").length > 0;
    if (sealed.length === 0 && !reconcileDue && !unconfirmed) return false;
    if (sealed.length === 0 && !unconfirmed && !fullReconcileDue && newestAnchoredId === undefined) {
      lastReconcileAt = now();
      return false;
    }
    const c = await connect(signal);
    if (reconcileDue) await reconcile(c, signal);
    for (const batch of catalog.batchesWithStatus("sealed")) {
      signal.throwIfAborted();
      await anchorOne(c, batch, signal);
    }
    await confirm(c, signal);
    if (force) sealDue(false); // anything that arrived meanwhile keeps its normal schedule
    return true;
  }

  function succeeded(usedChain: boolean): void {
    if (!usedChain) return;
    if (chainState === "down") log?.info({ after: failures }, "anchoring: chain back; queued batches anchored");
    chainState = "up";
    failures = 0;
  }

  function failed(error: unknown): void {
    failures++;
    expected = undefined;
    fullReconcileDue = fullReconcileDue || !isVaultError(error, "CONFLICT");
    const code = isVaultError(error) ? error.code : "INTERNAL";
    const message = error instanceof Error ? error.message : String(error);
    lastError = { code, message, at: new Date(now()).toISOString() };
    if (code === "CHAIN_UNAVAILABLE") chainState = "down";
    // A fresh client after a transport or contract failure (the chain may have come back elsewhere).
    if (typeof source === "function" && code !== "CONFLICT" && client !== undefined) {
      client.close();
      client = undefined;
    }
    // First failure of a streak, then every 64th: an outage must not flood the log.
    if (failures === 1 || failures % 64 === 0) {
      log?.warn({ code, failures }, `anchoring: ${code === "CHAIN_UNAVAILABLE" ? "chain unavailable, leaves stay queued" : message}`);
    }
  }

  function backoffMs(): number {
    return Math.min(maxBackoffMs, 100 * 2 ** Math.min(failures, 16));
  }

  function idleMs(): number {
    if (pendingSince === undefined) return pollMs;
    return Math.max(0, Math.min(pollMs, pendingSince + config.maxMs - now()));
  }

  function sleep(ms: number, wakeable: boolean): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wakeUp = undefined;
        endSleep = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      endSleep = done;
      if (wakeable) wakeUp = done;
    });
  }

  /** Asks the catalog whether this instance anchors; a change of leader means a full reconcile. */
  function lead(): boolean {
    const now = catalog.tryLead === undefined ? true : catalog.tryLead("batcher");
    if (now && !leader) {
      fullReconcileDue = true;
      expected = undefined;
      if (catalog.tryLead !== undefined) log?.info({}, "anchoring: this instance anchors for the catalog");
    }
    leader = now;
    return now;
  }

  async function run(): Promise<void> {
    while (running) {
      let ok = true;
      try {
        if (!lead()) {
          await sleep(pollMs, false);
          continue;
        }
        succeeded(await exclusive(() => pass(false, abort.signal)));
      } catch (error) {
        if (!running) break;
        ok = false;
        failed(error);
      }
      if (!running) break;
      await sleep(ok ? idleMs() : backoffMs(), ok);
    }
  }

  return {
    config,

    start() {
      if (running) return;
      running = true;
      stopping = false;
      abort = new AbortController();
      fullReconcileDue = true;
      loop = run();
    },

    async stop() {
      stopping = true;
      if (!running) {
        await loop;
        await lock;
        return;
      }
      running = false;
      endSleep?.();
      const current = loop;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), stopTimeoutMs);
      });
      if ((await Promise.race([current, timedOut])) === "timeout") {
        abort.abort(new VaultError("CHAIN_UNAVAILABLE", "anchoring stopped while a transaction was in flight"));
        await current;
      }
      clearTimeout(timer);
      await lock;
      if (typeof source === "function" && client !== undefined) {
        client.close();
        client = undefined;
      }
    },

    async flush(opts = {}) {
      const deadline = opts.timeoutMs === undefined ? Number.POSITIVE_INFINITY : now() + opts.timeoutMs;
      for (;;) {
        opts.signal?.throwIfAborted();
        if (!lead()) throw new VaultError("CONFLICT", "flush: another vault instance anchors for this catalog");
        const signal = opts.signal === undefined ? abort.signal : AbortSignal.any([abort.signal, opts.signal]);
        try {
          succeeded(await exclusive(() => pass(true, signal)));
          return;
        } catch (error) {
          opts.signal?.throwIfAborted();
          failed(error);
          const wait = backoffMs();
          if (now() + wait > deadline || abort.signal.aborted || stopping) {
            throw new VaultError("CHAIN_UNAVAILABLE", "flush: the queued leaves could not be anchored in time", { cause: error });
          }
          await new Promise((resolve) => setTimeout(resolve, wait));
        }
      }
    },

    notify() {
      wakeUp?.();
    },

    reconcileSoon() {
      fullReconcileDue = true;
      wakeUp?.();
    },

    status() {
      const status: BatcherStatus = {
        running,
        leader,
        chain: chainState,
        pendingLeaves: catalog.countPendingLeaves(),
        sealedBatches: catalog.batchesWithStatus("sealed").length,
        anchoredBatches: catalog.batchesWithStatus("anchored").length,
      };
      if (lastAnchor !== undefined) status.lastAnchor = lastAnchor;
      if (lastError !== undefined) status.lastError = lastError;
      return status;
    },
  };
}
