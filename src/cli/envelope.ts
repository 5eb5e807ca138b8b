/** `medvault keygen`, `encrypt` and `decrypt`: age-compatible, streaming, stdin/stdout by default. */

import { readFile, stat } from "node:fs/promises";
import { decryptFileParallel, encryptFileParallel, readFileHeader } from "../crypto/files.ts";
import {
  decryptStream,
  encryptStream,
  formatIdentityFile,
  generateKey,
  parseIdentityFile,
  parseRecipient,
  parseRecipientsFile,
  type Recipient,
} from "../crypto/index.ts";
import { parallelMinBytes } from "../crypto/parallel.ts";
import { VaultError } from "../errors.ts";
import { list, one, parse } from "./args.ts";
import { openInput, openOutput, pump } from "./io.ts";

export const KEYGEN_USAGE = `Usage: medvault keygen [--pq] [-o FILE]

Generates an age identity: X25519 by default, post-quantum hybrid ML-KEM-768 + X25519 with --pq.
With -o the identity is written to FILE (mode 0600, never overwritten) and the recipient printed;
without it the identity file is printed to standard output.

  --pq          hybrid post-quantum identity (AGE-SECRET-KEY-PQ-1…, recipient age1pq1…)
  -o, --output  file to write the identity to`;

export async function keygen(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { pq: { type: "boolean" }, output: { type: "string", short: "o" } }, KEYGEN_USAGE);
  if (values.help === true) return usage(KEYGEN_USAGE);
  if (positionals.length > 0) throw new VaultError("BAD_REQUEST", `unexpected argument\n${KEYGEN_USAGE}`);
  const key = await generateKey({ pq: values.pq === true });
  const path = one(values.output);
  const out = await openOutput(path, { mode: 0o600, exclusive: true });
  try {
    await out.write([Buffer.from(formatIdentityFile(key))]);
  } finally {
    await out.close();
  }
  if (path !== undefined && path !== "-") process.stdout.write(`${key.recipient}\n`);
  return 0;
}

export const ENCRYPT_USAGE = `Usage: medvault encrypt -r RECIPIENT… [-R RECIPIENTS_FILE…] [-o OUT] [IN]

Encrypts IN (default: standard input) to an age file readable by \`age -d\` and any age library.

  -r, --recipient        an age1… (X25519) or age1pq1… (hybrid) recipient; repeatable
  -R, --recipients-file  a file of recipients, one per line; repeatable
  -o, --output           output file (default: standard output)`;

export async function encrypt(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      recipient: { type: "string", short: "r", multiple: true },
      "recipients-file": { type: "string", short: "R", multiple: true },
      output: { type: "string", short: "o" },
    },
    ENCRYPT_USAGE,
  );
  if (values.help === true) return usage(ENCRYPT_USAGE);
  if (positionals.length > 1) throw new VaultError("BAD_REQUEST", `only one input file\n${ENCRYPT_USAGE}`);
  const recipients: Recipient[] = list(values.recipient).map(parseRecipient);
  for (const file of list(values["recipients-file"])) recipients.push(...parseRecipientsFile(await readText(file)));
  if (recipients.length === 0) throw new VaultError("BAD_REQUEST", `at least one recipient is required\n${ENCRYPT_USAGE}`);
  const input = positionals[0];
  const output = one(values.output);
  const size = input !== undefined && input !== "-" ? await fileSize(input) : undefined;
  if (size !== undefined && size >= parallelMinBytes() && output !== undefined && output !== "-" && (await isPlainTarget(output))) {
    await encryptFileParallel(input as string, output, size, recipients);
    return 0;
  }
  const { header, payload } = await encryptStream(openInput(input), recipients);
  const out = await openOutput(output);
  try {
    await out.write([header]);
    await pump(payload, out);
  } finally {
    await out.close();
  }
  return 0;
}

export const DECRYPT_USAGE = `Usage: medvault decrypt -i IDENTITY_FILE… [-o OUT] [IN]

Decrypts an age file (binary or ASCII-armored) from IN (default: standard input). Every chunk is
authenticated before it is written: on failure, what was written is genuine plaintext only.

  -i, --identity  an identity file (AGE-SECRET-KEY-1… or AGE-SECRET-KEY-PQ-1…); repeatable
  -o, --output    output file (default: standard output)`;

export async function decrypt(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { identity: { type: "string", short: "i", multiple: true }, output: { type: "string", short: "o" } },
    DECRYPT_USAGE,
  );
  if (values.help === true) return usage(DECRYPT_USAGE);
  if (positionals.length > 1) throw new VaultError("BAD_REQUEST", `only one input file\n${DECRYPT_USAGE}`);
  const files = list(values.identity);
  if (files.length === 0) throw new VaultError("BAD_REQUEST", `at least one identity file is required\n${DECRYPT_USAGE}`);
  const identities = [];
  for (const file of files) identities.push(...parseIdentityFile(await readText(file)));
  const input = positionals[0];
  const output = one(values.output);
  const size = input !== undefined && input !== "-" ? await fileSize(input) : undefined;
  if (size !== undefined && size >= parallelMinBytes() && output !== undefined && output !== "-" && (await isPlainTarget(output))) {
    const parsed = await readFileHeader(input as string);
    if (parsed !== undefined) {
      await decryptFileParallel(input as string, output, size, parsed, identities);
      return 0;
    }
  }
  const plaintext = decryptStream(openInput(input), identities);
  // Process the header before creating the output, so a wrong key leaves no empty file behind.
  const first = await plaintext.next();
  const out = await openOutput(one(values.output));
  try {
    if (first.done !== true) await out.write([first.value]);
    await pump({ [Symbol.asyncIterator]: () => plaintext }, out);
  } finally {
    await out.close();
  }
  return 0;
}

function usage(text: string): number {
  process.stdout.write(`${text}\n`);
  return 0;
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (cause) {
    throw new VaultError("IO_ERROR", `cannot read ${path}`, { cause });
  }
}

/** Size of an input file; only regular files (a FIFO or a device streams instead). */
async function fileSize(path: string): Promise<number | undefined> {
  const s = await stat(path).catch((cause: unknown) => {
    throw new VaultError("IO_ERROR", `cannot read ${path}`, { cause });
  });
  if (s.isDirectory()) throw new VaultError("BAD_REQUEST", `${path} is a directory`);
  return s.isFile() ? s.size : undefined;
}

/** An output the workers can write at offsets: a new or regular file, not a pipe or a device. */
async function isPlainTarget(path: string): Promise<boolean> {
  const s = await stat(path).catch(() => undefined);
  return s === undefined || s.isFile();
}
