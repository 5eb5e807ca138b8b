/**
 * The `medvault` command: dispatches to a subcommand, prints one line on failure and returns
 * the exit code (0 success, 1 failure, 2 usage). Environment is read only by the CLI (serve's
 * settings, the client's MEDVAULT_URL/MEDVAULT_TOKEN) and server.ts.
 */

import { isVaultError } from "../errors.ts";

const USAGE = `Usage: medvault <command> [options]

Service:
  serve                                                run the vault (settings: medvault serve --help)
  swarm-key [-o FILE]                                  a private swarm key for several nodes (MEDVAULT_SWARM_KEY)

Envelope (age-compatible, streaming, stdin/stdout by default):
  keygen [--pq] [-o FILE]                              make an age identity
  encrypt -r RECIPIENT… [-R FILE] [-o OUT] [IN]        encrypt to recipients
  decrypt -i IDENTITY_FILE… [-o OUT] [IN]              decrypt with identities

Vault client (MEDVAULT_URL, MEDVAULT_TOKEN, or --url / --token / --token-file):
  principal add NAME --role ROLE [--age-recipient R]   create a principal; prints its token once
  upload FILE… [--to NAME…] [--expires 30d|ISO]        upload, streamed, with progress
  download ID [-o OUT|DIR|-] [--age]                   verified download (Repr-Digest)
  ls [--json]                                          files you may see
  grant ID RECIPIENT [--expires WHEN]                  share a file
  revoke ID RECIPIENT                                  stop sharing
  shred ID --reason TEXT                               crypto-shred; prints the certificate
  audit [ID] [--actor P] [--action A] [--after SEQ] [--limit N]   audit events as JSON lines

Anchoring:
  receipt ID [-o OUT]                                  a file's receipt (medvault.receipt/v1)
  verify FILE --receipt R [--rpc URL]                  check a file against its receipt and the chain, without the vault
  chain deploy --rpc URL --key FILE                    deploy VaultAnchor on an external EVM chain

Run \`medvault <command> --help\` for a command's options.`;

type Command = (argv: string[]) => Promise<number>;

/**
 * Commands load their modules on first use: `encrypt` in a pipeline must not pay for Helia,
 * ethers and Express (about 150 MiB and a quarter second of start-up).
 */
const lazy =
  <M>(load: () => Promise<M>, pick: (m: M) => Command): Command =>
  async (argv) =>
    pick(await load())(argv);
const envelope = () => import("./envelope.ts");
const client = () => import("./client.ts");
const chainCli = () => import("./chain.ts");
const swarmCli = () => import("./swarm.ts");

const COMMANDS: Record<string, Command> = {
  keygen: lazy(envelope, (m) => m.keygen),
  "swarm-key": lazy(swarmCli, (m) => m.swarmKey),
  encrypt: lazy(envelope, (m) => m.encrypt),
  decrypt: lazy(envelope, (m) => m.decrypt),
  serve: lazy(
    () => import("./serve.ts"),
    (m) => m.serve,
  ),
  principal: lazy(client, (m) => m.principal),
  upload: lazy(client, (m) => m.upload),
  download: lazy(client, (m) => m.download),
  grant: lazy(client, (m) => m.grant),
  revoke: lazy(client, (m) => m.revoke),
  shred: lazy(client, (m) => m.shred),
  audit: lazy(client, (m) => m.audit),
  ls: lazy(client, (m) => m.ls),
  receipt: lazy(chainCli, (m) => m.receipt),
  verify: lazy(chainCli, (m) => m.verify),
  chain: lazy(chainCli, (m) => m.chain),
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`medvault: unknown command "${name}"\n${USAGE}\n`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (error) {
    if (isVaultError(error)) {
      process.stderr.write(`medvault ${name}: ${error.code}: ${error.message}\n`);
      return error.code === "BAD_REQUEST" ? 2 : 1;
    }
    const code = (error as { code?: string }).code;
    if (code === "EPIPE") return 1;
    process.stderr.write(`medvault ${name}: INTERNAL: ${(error as Error).message ?? String(error)}\n`);
    return 1;
  }
}
