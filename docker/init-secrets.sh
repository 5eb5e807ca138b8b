#!/usr/bin/env bash
# Makes what docker/compose.yaml needs and git must never hold, once: it creates only what is
# missing and never overwrites a file (a new vault identity would lock every file key away).
#
#   docker/secrets/swarm.key     the private IPFS swarm's pre-shared key (libp2p swarm.key v1)
#   docker/secrets/vault.key     the vault's age identity (post-quantum hybrid), shared by every node
#   docker/secrets/anchorer.key  the anchorer's Ethereum private key (0x + 64 hex digits)
#   docker/.env                  the catalog password, the first admin token, the contract address
#
# The vault identity comes from `medvault keygen --pq`: from this checkout when `npm install`
# ran here, else from the image (`docker-compose -f docker/compose.yaml build` first).
set -euo pipefail
umask 077

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
secrets="$here/secrets"
image=medvault:local # as docker/compose.yaml names it
mkdir -p "$secrets"

hex32() {
  if command -v openssl >/dev/null 2>&1; then openssl rand -hex 32; else od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; fi
}

made() { echo "init-secrets: made $1"; }

if [ ! -e "$secrets/swarm.key" ]; then
  printf '/key/swarm/psk/1.0.0/\n/base16/\n%s\n' "$(hex32)" >"$secrets/swarm.key"
  made docker/secrets/swarm.key
fi

if [ ! -e "$secrets/anchorer.key" ]; then
  printf '0x%s\n' "$(hex32)" >"$secrets/anchorer.key"
  made docker/secrets/anchorer.key
fi

if [ ! -e "$secrets/vault.key" ]; then
  if [ -x "$root/node_modules/.bin/node" ]; then
    "$root/node_modules/.bin/node" "$root/bin/medvault.js" keygen --pq -o "$secrets/vault.key" >/dev/null
  elif docker image inspect "$image" >/dev/null 2>&1; then
    tmp="$(mktemp "$secrets/.vault.key.XXXXXX")"
    if ! docker run --rm --network none "$image" node bin/medvault.js keygen --pq >"$tmp"; then
      rm -f "$tmp"
      exit 1
    fi
    mv "$tmp" "$secrets/vault.key"
  else
    echo "init-secrets: no medvault here to make the vault identity: run \`npm install\`, or build the image first" >&2
    echo "  (docker-compose -f docker/compose.yaml build), then run this again" >&2
    exit 1
  fi
  made "docker/secrets/vault.key (keep a copy offline: without it no file can be read)"
fi

if [ ! -e "$here/.env" ]; then
  cat >"$here/.env" <<EOF
# Read by docker-compose for docker/compose.yaml (made by docker/init-secrets.sh; not in git).
COMPOSE_PROJECT_NAME=medvault
# The catalog's PostgreSQL password (the postgres service and MEDVAULT_CATALOG_URL).
POSTGRES_PASSWORD=$(hex32)
# The first admin's bearer token, used on the catalog's first start.
MEDVAULT_ADMIN_TOKEN=mvt_$(hex32)
# VaultAnchor's address on the chain: docker/dev-chain.sh (anvil) or \`medvault chain deploy\`.
MEDVAULT_ANCHOR_CONTRACT=
EOF
  made docker/.env
fi

# Compose mounts secrets with their owner and mode as they are here; the image's user is uid 1000.
if [ "$(uname -s)" = Linux ] && [ "$(id -u)" != 1000 ]; then
  echo "init-secrets: the vault runs as uid 1000 and must be able to read docker/secrets/*.key:" >&2
  echo "  sudo chown 1000 $secrets/swarm.key $secrets/vault.key $secrets/anchorer.key" >&2
fi
