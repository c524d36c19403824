#!/usr/bin/env bash
# Rebuild devnet/artifacts/*.json from devnet/contracts/*.sol with the solc version pinned in package.json.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund >/dev/null
node build.js
