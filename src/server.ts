/**
 * `medvault serve`: the vault with its embedded parts (Helia on disk, SQLite catalog, and the
 * anchoring chain) on MEDVAULT_HOST:MEDVAULT_PORT, or with the scale-out ones its settings name
 * (MEDVAULT_CATALOG_URL for a PostgreSQL catalog shared by several instances, the private
 * swarm, an external chain). With server.ts only the CLI entry reads the environment and calls
 * `listen`.
 */

import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, readFile } from "node:fs/promises";
import type { Server } from "node:http";
import { join, resolve } from "node:path";
import { pino } from "pino";
import { startAnchoring } from "./anchor/service.ts";
import { type Catalog, isPostgresUrl, openCatalog } from "./catalog/index.ts";
import { VaultError } from "./errors.ts";
import { createApp } from "./http/app.ts";
import { createAuth } from "./http/auth.ts";
import { answerClientError } from "./http/client-error.ts";
import { createCheckContinue } from "./http/continue.ts";
import { createBlobStore } from "./store/index.ts";
import { loadSwarmConfig } from "./swarm/config.ts";
import { createVault, loadOrCreateVaultKey } from "./vault/index.ts";

export type Config = {
  dataDir: string;
  host: string;
  port: number;
  maxUploadBytes: number;
  adminToken: string | undefined;
  webDir: string | undefined;
  logLevel: string;
  /** A `postgres://…` URL (MEDVAULT_CATALOG_URL), or undefined for SQLite in the data dir. */
  catalogUrl?: string | undefined;
  /** The shared vault identity file (MEDVAULT_VAULT_IDENTITY), or undefined for the data dir's own. */
  vaultIdentity?: string | undefined;
  /** A connection idle this long (a stalled client, mid-headers or mid-upload) is closed. */
  idleTimeoutMs?: number;
};

function intFrom(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw)) throw new VaultError("BAD_REQUEST", `${name} must be a whole number`);
  return Number(raw);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const adminToken = env.MEDVAULT_ADMIN_TOKEN;
  if (adminToken !== undefined && adminToken !== "" && !/^[\x21-\x7e]{32,512}$/.test(adminToken)) {
    throw new VaultError("BAD_REQUEST", "MEDVAULT_ADMIN_TOKEN must be 32 to 512 printable characters without spaces");
  }
  const catalogUrl = env.MEDVAULT_CATALOG_URL === "" ? undefined : env.MEDVAULT_CATALOG_URL;
  if (catalogUrl !== undefined && !isPostgresUrl(catalogUrl)) {
    throw new VaultError("BAD_REQUEST", "MEDVAULT_CATALOG_URL must be a postgres:// URL (unset: SQLite in the data dir)");
  }
  return {
    catalogUrl,
    vaultIdentity:
      env.MEDVAULT_VAULT_IDENTITY === "" || env.MEDVAULT_VAULT_IDENTITY === undefined ? undefined : resolve(env.MEDVAULT_VAULT_IDENTITY),
    dataDir: resolve(env.MEDVAULT_DATA ?? "./.medvault"),
    host: env.MEDVAULT_HOST ?? "127.0.0.1",
    port: intFrom(env, "MEDVAULT_PORT", 8080),
    maxUploadBytes: intFrom(env, "MEDVAULT_MAX_UPLOAD_BYTES", 16 * 1024 ** 3),
    adminToken: env.MEDVAULT_ADMIN_TOKEN === "" ? undefined : env.MEDVAULT_ADMIN_TOKEN,
    webDir: env.MEDVAULT_WEB_DIR ?? join(import.meta.dirname, "../web"),
    logLevel: env.MEDVAULT_LOG_LEVEL ?? "info",
  };
}

export type Running = { url: string; port: number; chain: { chainId: number; contract: string; rpc?: string }; close(): Promise<void> };

/** On first start (no principal yet) an admin is created: the given token, or a new one written to admin.token (0600). */
async function bootstrapAdmin(config: Config, vaultCreate: (token: string) => void, count: number, log: pino.Logger): Promise<void> {
  if (count > 0) return;
  const token = config.adminToken ?? `mvt_${randomBytes(32).toString("base64url")}`;
  try {
    vaultCreate(token);
  } catch (error) {
    // Another instance on the same catalog created the admin first (both saw none).
    if (error instanceof VaultError && error.code === "CONFLICT") return;
    throw error;
  }
  if (config.adminToken === undefined) {
    const path = join(config.dataDir, "admin.token");
    const fh = await open(path, "wx", 0o600);
    await fh.writeFile(`${token}\n`);
    await fh.close();
    log.info({ path }, "first start: admin token written (mode 0600)");
  } else log.info("first start: admin created with MEDVAULT_ADMIN_TOKEN");
}

export async function startServer(config: Config, env: NodeJS.ProcessEnv = process.env): Promise<Running> {
  const log = pino({ level: config.logLevel, base: { service: "medvault" }, redact: ["req.headers.authorization", "token"] });
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  await chmod(config.dataDir, 0o700);
  const catalog = openCatalog({ path: config.catalogUrl ?? join(config.dataDir, "catalog.sqlite") });
  const cleanup: (() => Promise<void> | void)[] = [() => catalog.close()];
  const undo = async () => {
    for (const f of cleanup.reverse()) await Promise.resolve(f()).catch(() => {});
  };
  try {
    return await assemble();
  } catch (error) {
    await undo();
    throw error;
  }

  async function assemble(): Promise<Running> {
    const swarm = await loadSwarmConfig(env);
    const store = await createBlobStore({ dir: join(config.dataDir, "ipfs"), ...(swarm === undefined ? {} : { swarm }) });
    cleanup.push(() => store.stop());
    const key = await loadOrCreateVaultKey(config.dataDir, config.vaultIdentity);
    checkVaultRecipient(catalog, key.recipient.text);
    if (catalog.engine === "postgres" && (env.MEDVAULT_CHAIN_RPC ?? "").trim() === "") {
      // The embedded chain lives in one data dir; instances sharing a catalog share a chain.
      throw new VaultError(
        "BAD_REQUEST",
        "MEDVAULT_CATALOG_URL is set: an external chain is required too (MEDVAULT_CHAIN_RPC, MEDVAULT_ANCHOR_CONTRACT, MEDVAULT_ANCHORER_KEY)",
      );
    }
    const anchoring = await startAnchoring({ dataDir: config.dataDir, catalog, env, log: log.child({ component: "anchor" }) });
    cleanup.push(() => anchoring.stop());
    const vault = createVault({ catalog, store, key, anchor: { ...anchoring.hooks, notify: () => anchoring.batcher.notify() } });
    const recovered = await vault.recover();
    if (recovered.unpinned > 0) log.warn(recovered, "dropped payloads of uploads that never committed");
    await bootstrapAdmin(
      config,
      (token) => catalog.createPrincipalWithToken({ name: "admin", role: "admin", token }),
      catalog.countPrincipals(),
      log,
    );

    const requireAuth = createAuth({ authenticate: (t) => vault.authenticate(t) });
    const app = createApp({
      vault,
      requireAuth,
      maxUploadBytes: config.maxUploadBytes,
      log,
      ...(config.webDir === undefined ? {} : { webDir: config.webDir }),
      anchoring: anchoring.http,
    });
    const server: Server = await new Promise((ok, fail) => {
      const s = app.listen(config.port, config.host, () => ok(s));
      s.once("error", fail);
    });
    const checkContinue = createCheckContinue({ auth: requireAuth, maxUploadBytes: config.maxUploadBytes });
    server.on("clientError", answerClientError);
    server.on("checkContinue", (req, res) => checkContinue(req, res, () => server.emit("request", req, res)));
    // Slow or stalled clients are cut off; long uploads are fine as long as bytes keep coming.
    server.requestTimeout = 0;
    server.headersTimeout = 30_000;
    server.timeout = config.idleTimeoutMs ?? 120_000;
    const address = server.address();
    const port = typeof address === "object" && address !== null ? address.port : config.port;
    const url = `http://${config.host}:${port}`;
    log.info(
      {
        url,
        dataDir: config.dataDir,
        catalog: catalog.engine,
        chain: anchoring.chainInfo,
        ...(store.swarm === undefined ? {} : { peerId: store.swarm.peerId }),
      },
      "medvault listening",
    );

    let closing: Promise<void> | undefined;
    return {
      url,
      port,
      get chain() {
        return anchoring.chainInfo;
      },
      close() {
        closing ??= (async () => {
          await new Promise<void>((ok) => {
            server.close(() => ok());
            server.closeIdleConnections();
            setTimeout(() => server.closeAllConnections(), 5_000).unref();
          });
          await anchoring.stop();
          await store.stop();
          if (catalog.engine === "sqlite") catalog.checkpoint();
          catalog.close();
          log.info("medvault stopped");
        })();
        return closing;
      },
    };
  }
}

/**
 * Every instance on one catalog must hold the same vault identity, or files uploaded through one
 * could not be read through another: the first start records the vault's recipient in the
 * catalog, later starts with another identity are refused.
 */
function checkVaultRecipient(catalog: Catalog, recipient: string): void {
  // In one transaction: two instances starting together cannot both record theirs.
  const known = catalog.transaction(() => {
    const stored = catalog.getMeta("vault.recipient");
    if (stored === undefined) catalog.setMeta("vault.recipient", recipient);
    return stored ?? recipient;
  });
  if (known !== recipient) {
    throw new VaultError(
      "BAD_REQUEST",
      "this vault identity is not the catalog's: instances sharing a catalog need the same identity file (MEDVAULT_VAULT_IDENTITY)",
    );
  }
}

export async function readAdminToken(dataDir: string): Promise<string | undefined> {
  return (await readFile(join(dataDir, "admin.token"), "utf8").catch(() => undefined))?.trim();
}
