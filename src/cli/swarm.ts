/** `medvault swarm-key`: a new pre-shared key for the nodes' private swarm (MEDVAULT_SWARM_KEY). */

import { VaultError } from "../errors.ts";
import { formatSwarmKey, generateSwarmKey } from "../swarm/key.ts";
import { one, parse } from "./args.ts";
import { openOutput } from "./io.ts";

export const SWARM_KEY_USAGE = `Usage: medvault swarm-key [-o FILE]

Makes a private swarm key in the standard swarm.key format (/key/swarm/psk/1.0.0/). Give the
same file to every vault node as MEDVAULT_SWARM_KEY; a node without it cannot connect.

  -o, --output  the key file, created mode 0600, never overwritten (default: standard output)`;

export async function swarmKey(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { output: { type: "string", short: "o" } }, SWARM_KEY_USAGE);
  if (values.help === true) {
    process.stdout.write(`${SWARM_KEY_USAGE}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new VaultError("BAD_REQUEST", `unexpected argument\n${SWARM_KEY_USAGE}`);
  const out = await openOutput(one(values.output), { mode: 0o600, exclusive: true });
  try {
    await out.write([Buffer.from(formatSwarmKey(generateSwarmKey()))]);
  } finally {
    await out.close();
  }
  return 0;
}
