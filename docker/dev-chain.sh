#!/usr/bin/env bash
# For the compose file's anvil only, a development chain: starts it, gives the anchorer account
# 100 ETH (anvil_setBalance), deploys VaultAnchor with the anchorer key (so that account is its
# owner and anchorer) and writes the address into docker/.env as MEDVAULT_ANCHOR_CONTRACT.
# Does nothing when docker/.env already names a contract.
#
# On a real chain, fund the anchorer's account by that chain's own means and run
# `medvault chain deploy --rpc URL --key FILE` (README.md, "Deployment").
#
# COMPOSE="docker compose" selects Compose v2's plugin instead of docker-compose.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
env_file="$here/.env"
# shellcheck disable=SC2206 # COMPOSE may be two words
compose=(${COMPOSE:-docker-compose} -f "$here/compose.yaml")

if [ ! -f "$env_file" ] || [ ! -f "$here/secrets/anchorer.key" ]; then
  echo "dev-chain: run docker/init-secrets.sh first" >&2
  exit 1
fi
if grep -Eq '^MEDVAULT_ANCHOR_CONTRACT=0x[0-9a-fA-F]{40}$' "$env_file"; then
  echo "dev-chain: docker/.env already names a contract: $(grep '^MEDVAULT_ANCHOR_CONTRACT=' "$env_file")"
  exit 0
fi

"${compose[@]}" up -d anvil
container="$("${compose[@]}" ps -q anvil)"
for _ in $(seq 60); do
  [ "$(docker inspect -f '{{.State.Health.Status}}' "$container")" = healthy ] && break
  sleep 1
done

# One-off containers of the vault image: they see the anchorer key at /run/secrets/anchorer_key
# and the chain at MEDVAULT_CHAIN_RPC, as the vaults will. -T: plain output, no terminal.
run=("${compose[@]}" run --rm --no-deps -T vault-a)

# shellcheck disable=SC2016 # JavaScript, not shell: nothing to expand
"${run[@]}" node --input-type=module -e '
  import { readFileSync } from "node:fs";
  import { JsonRpcProvider, Wallet } from "ethers";
  const { address } = new Wallet(readFileSync("/run/secrets/anchorer_key", "utf8").trim());
  const chain = new JsonRpcProvider(process.env.MEDVAULT_CHAIN_RPC);
  await chain.send("anvil_setBalance", [address, "0x56bc75e2d63100000"]);
  console.log(`dev-chain: anchorer ${address} funded with 100 ETH`);
  chain.destroy();
'

contract="$("${run[@]}" node bin/medvault.js chain deploy --rpc http://anvil:8545 --key /run/secrets/anchorer_key | tr -d '\r')"
if ! [[ "$contract" =~ ^0x[0-9a-fA-F]{40}$ ]]; then
  echo "dev-chain: chain deploy gave no address: $contract" >&2
  exit 1
fi

# Rewrite docker/.env with the address in place (portable: no sed -i).
tmp="$(mktemp "$here/.env.XXXXXX")"
awk -v line="MEDVAULT_ANCHOR_CONTRACT=$contract" '
  /^MEDVAULT_ANCHOR_CONTRACT=/ { print line; done = 1; next }
  { print }
  END { if (!done) print line }
' "$env_file" >"$tmp"
chmod 600 "$tmp"
mv "$tmp" "$env_file"
echo "dev-chain: VaultAnchor deployed at $contract (docker/.env: MEDVAULT_ANCHOR_CONTRACT)"
