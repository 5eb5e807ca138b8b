/**
 * `medvault verify`, `medvault receipt` and `medvault chain deploy`: the anchoring commands.
 *
 * `verify` needs nothing but the file, its receipt and an RPC endpoint of the chain: no vault,
 * no token. Failures are VaultErrors named by the check that failed (HASH_MISMATCH, BAD_PROOF,
 * WRONG_CHAIN, WRONG_CONTRACT, ROOT_NOT_ON_CHAIN), which main prints as `CODE: message` with
 * exit code 1.
 */

import { readFile } from "node:fs/promises";
import { parsePrivateKey } from "../anchor/certificate.ts";
import { deployVaultAnchor } from "../anchor/chain.ts";
import { parseReceipt, sha256File, verifyReceipt } from "../anchor/receipt.ts";
import { VaultError } from "../errors.ts";
import { one, parse } from "./args.ts";
import { CONNECTION_HELP, CONNECTION_OPTIONS, callJson, connect } from "./http.ts";
import { openOutput } from "./io.ts";

export const VERIFY_USAGE = `Usage: medvault verify FILE --receipt RECEIPT [--rpc URL]

Checks FILE against its medvault.receipt/v1 and the chain, without the vault: the file's
SHA-256, the salted commitment, the Merkle path to the batch root, and the root in the
VaultAnchor contract on chain. Prints one line and exits 0 when all hold; otherwise exits 1
naming the failed check: HASH_MISMATCH, BAD_PROOF, WRONG_CHAIN, WRONG_CONTRACT, ROOT_NOT_ON_CHAIN.

  --receipt  the receipt JSON (from \`medvault receipt ID\` or GET /v1/files/:id/receipt)
  --rpc      a JSON-RPC endpoint of the receipt's chain (default: $MEDVAULT_CHAIN_RPC)`;

export async function verify(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { receipt: { type: "string" }, rpc: { type: "string" } }, VERIFY_USAGE);
  if (values.help === true) return usage(VERIFY_USAGE);
  const file = positionals[0];
  if (file === undefined || positionals.length > 1) throw new VaultError("BAD_REQUEST", `one FILE is required\n${VERIFY_USAGE}`);
  const receiptPath = one(values.receipt);
  if (receiptPath === undefined) throw new VaultError("BAD_REQUEST", `--receipt is required\n${VERIFY_USAGE}`);
  const rpcUrl = one(values.rpc) ?? process.env.MEDVAULT_CHAIN_RPC;
  if (rpcUrl === undefined || rpcUrl === "") {
    throw new VaultError("BAD_REQUEST", `--rpc is required (or set MEDVAULT_CHAIN_RPC)\n${VERIFY_USAGE}`);
  }
  const receipt = parseReceipt(await readText(receiptPath, "receipt"));
  const plaintextSha256 = await sha256File(file);
  const info = await verifyReceipt({ plaintextSha256, receipt, rpcUrl });
  const at = new Date(info.timestamp * 1000).toISOString();
  process.stdout.write(`verified: batch ${info.batchId}, block ${info.blockNumber}, ${at}\n`);
  return 0;
}

export const RECEIPT_USAGE = `Usage: medvault receipt ID [-o OUT]

Fetches the receipt of file ID from the vault (GET /v1/files/ID/receipt) and writes it as JSON;
check it later, without the vault, with \`medvault verify FILE --receipt OUT --rpc URL\`. The
receipt holds the file's salt: keep it with the file. PENDING until the file's batch is anchored
(within seconds of the upload); GONE once the file was erased.

  -o, --output  file to write (mode 0600; default: standard output)

${CONNECTION_HELP}`;

export async function receipt(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...CONNECTION_OPTIONS, output: { type: "string", short: "o" } }, RECEIPT_USAGE);
  if (values.help === true) return usage(RECEIPT_USAGE);
  const id = positionals[0];
  if (id === undefined || positionals.length > 1) throw new VaultError("BAD_REQUEST", `one file ID is required\n${RECEIPT_USAGE}`);
  const conn = await connect(values);
  const parsed = parseReceipt(await callJson(conn, "GET", `/v1/files/${encodeURIComponent(id)}/receipt`));
  const out = await openOutput(one(values.output), { mode: 0o600 });
  try {
    await out.write([Buffer.from(`${JSON.stringify(parsed, null, 2)}\n`)]);
  } finally {
    await out.close();
  }
  return 0;
}

export const CHAIN_USAGE = `Usage: medvault chain deploy --rpc URL --key FILE

Deploys a VaultAnchor contract for an external chain and prints its address. The key's account
becomes the contract's owner and anchorer; run the vault with MEDVAULT_CHAIN_RPC=URL,
MEDVAULT_ANCHOR_CONTRACT=<the address> and MEDVAULT_ANCHORER_KEY=FILE.

  --rpc  JSON-RPC endpoint of the chain
  --key  file holding the deployer's private key (0x hex); never on the command line`;

export async function chain(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { rpc: { type: "string" }, key: { type: "string" } }, CHAIN_USAGE);
  if (values.help === true) return usage(CHAIN_USAGE);
  if (positionals[0] !== "deploy" || positionals.length > 1) throw new VaultError("BAD_REQUEST", `unknown subcommand\n${CHAIN_USAGE}`);
  const rpcUrl = one(values.rpc);
  const keyFile = one(values.key);
  if (rpcUrl === undefined || keyFile === undefined) throw new VaultError("BAD_REQUEST", `--rpc and --key are required\n${CHAIN_USAGE}`);
  const key = parsePrivateKey(await readText(keyFile, "key file"), "key file");
  const deployed = await deployVaultAnchor(rpcUrl, key);
  process.stdout.write(`${deployed.address}\n`);
  return 0;
}

function usage(text: string): number {
  process.stdout.write(`${text}\n`);
  return 0;
}

async function readText(path: string, title: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    throw new VaultError(code === "ENOENT" ? "NOT_FOUND" : "IO_ERROR", `cannot read the ${title}`, { cause });
  }
}
