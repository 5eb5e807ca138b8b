/**
 * Compiles anchors/VaultAnchor.sol with solc-js (offline: the compiler ships inside the npm
 * package) and writes anchors/VaultAnchor.json. The pragma pins the exact compiler version, so
 * the same source always yields the same bytecode; the artifact is committed, and
 * `node anchors/build.ts --check` (or the test suite) fails when it is stale.
 *
 * EVM target: paris (no PUSH0 / MCOPY / transient storage), so the contract also deploys on
 * permissioned Besu/Quorum networks and L2s that lag behind mainnet hardforks.
 */

import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import solc from "solc";

export const CONTRACT_NAME = "VaultAnchor";
export const EVM_VERSION = "paris";
const OPTIMIZER_RUNS = 200;

const sourcePath = fileURLToPath(new URL("./VaultAnchor.sol", import.meta.url));
export const artifactPath = fileURLToPath(new URL("./VaultAnchor.json", import.meta.url));

export interface Artifact {
  contractName: string;
  abi: unknown[];
  bytecode: string;
  deployedBytecode: string;
  solcVersion: string;
  evmVersion: string;
  optimizerRuns: number;
}

interface SolcOutput {
  errors?: { severity: string; formattedMessage: string }[];
  contracts?: Record<
    string,
    Record<string, { abi: unknown[]; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>
  >;
}

export function compileVaultAnchor(): Artifact {
  const source = readFileSync(sourcePath, "utf8");
  const pragma = /^pragma solidity (\d+\.\d+\.\d+);$/m.exec(source)?.[1];
  const solcVersion = solc.version() as string;
  if (pragma === undefined || !solcVersion.startsWith(`${pragma}+`)) {
    throw new Error(`VaultAnchor.sol pins solidity ${pragma ?? "(no exact pragma)"}, installed solc is ${solcVersion}`);
  }
  const input = {
    language: "Solidity",
    sources: { "VaultAnchor.sol": { content: source } },
    settings: {
      evmVersion: EVM_VERSION,
      optimizer: { enabled: true, runs: OPTIMIZER_RUNS },
      outputSelection: { "*": { [CONTRACT_NAME]: ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)) as string) as SolcOutput;
  const problems = (output.errors ?? []).filter((e) => e.severity === "error" || e.severity === "warning");
  if (problems.length > 0) throw new Error(problems.map((e) => e.formattedMessage).join("\n"));
  const contract = output.contracts?.["VaultAnchor.sol"]?.[CONTRACT_NAME];
  if (contract === undefined) throw new Error("solc produced no VaultAnchor contract");
  return {
    contractName: CONTRACT_NAME,
    abi: contract.abi,
    bytecode: `0x${contract.evm.bytecode.object}`,
    deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
    solcVersion,
    evmVersion: EVM_VERSION,
    optimizerRuns: OPTIMIZER_RUNS,
  };
}

export function serializeArtifact(artifact: Artifact): string {
  return `${JSON.stringify(artifact, null, 2)}\n`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = serializeArtifact(compileVaultAnchor());
  if (process.argv.includes("--check")) {
    if (readFileSync(artifactPath, "utf8") !== text) {
      console.error("anchors/VaultAnchor.json is stale: run npm run build:contracts");
      process.exit(1);
    }
    console.log("anchors/VaultAnchor.json is up to date");
  } else {
    writeFileSync(artifactPath, text);
    console.log(`wrote anchors/VaultAnchor.json (solc ${solc.version() as string})`);
  }
}
