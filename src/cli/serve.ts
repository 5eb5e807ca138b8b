/** `medvault serve`: runs the vault until SIGINT or SIGTERM, then stops cleanly. */

import { VaultError } from "../errors.ts";
import { loadConfig, startServer } from "../server.ts";
import { parse } from "./args.ts";

export const SERVE_USAGE = `Usage: medvault serve

Runs the vault: HTTP API and web page, Helia (IPFS) on disk, the SQLite catalog and the
anchoring chain (an embedded anvil unless MEDVAULT_CHAIN_RPC is set). Settings (environment):

  MEDVAULT_DATA              data directory (default ./.medvault, created mode 0700)
  MEDVAULT_HOST              listen address (default 127.0.0.1)
  MEDVAULT_PORT              listen port (default 8080; 0 picks a free one)
  MEDVAULT_MAX_UPLOAD_BYTES  largest upload (default 17179869184, 16 GiB)
  MEDVAULT_ADMIN_TOKEN       admin token on first start (default: generated into $MEDVAULT_DATA/admin.token)
  MEDVAULT_CHAIN_RPC, MEDVAULT_ANCHOR_CONTRACT, MEDVAULT_ANCHORER_KEY   an external EVM chain
  MEDVAULT_BATCH_MAX_LEAVES, MEDVAULT_BATCH_MAX_MS, MEDVAULT_CONFIRMATIONS   anchoring batches

Several nodes (README, "Deployment"):

  MEDVAULT_CATALOG_URL       postgres://… catalog shared by every node (needs MEDVAULT_CHAIN_RPC)
  MEDVAULT_VAULT_IDENTITY    the vault identity file every node shares (medvault keygen --pq)
  MEDVAULT_SWARM_KEY         private swarm key: a swarm.key file or 64 hex digits
  MEDVAULT_IPFS_LISTEN       swarm listen multiaddrs, comma-separated (default /ip4/127.0.0.1/tcp/4001)
  MEDVAULT_IPFS_PEERS        other nodes' multiaddrs, comma-separated
  MEDVAULT_REPLICATION       nodes that must hold an upload before it is acknowledged (default 1)`;

export async function serve(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {}, SERVE_USAGE);
  if (values.help === true) {
    process.stdout.write(`${SERVE_USAGE}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new VaultError("BAD_REQUEST", `unexpected argument\n${SERVE_USAGE}`);
  const running = await startServer(loadConfig());
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      void running.close().then(resolve);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  return 0;
}
