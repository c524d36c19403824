#!/usr/bin/env bash
# The dashboard's browser tests against the real local run: starts `tidewatch dev` (embedded
# PostgreSQL and Redis in a scratch folder, the devnet, schedules every 5 s) on a free port, waits
# for it, runs `npm run e2e` in headless Chromium with a test wallet holding a seeded devnet key,
# and stops the server. Screenshots land in dashboard/test-results/screenshots/ (git-ignored); on
# failure the whole server log is kept as dashboard/test-results/dev.log.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

chromium=${TIDEWATCH_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "FATAL: headless Chromium not found at $chromium (Debian: apt-get install -y chromium)" >&2
  exit 1
fi

home=$(mktemp -d /tmp/tidewatch-e2e.XXXXXX)
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="$home/dev.log"
started="$home/started"
touch "$started"
# A scratch, zero-configuration local run: embedded stores, not the developer's own. PYTHONPATH:
# this checkout's code even when .venv is a shared one whose editable install points at another
# checkout (a git worktree with a symlinked venv would otherwise test that checkout's code).
env -u TIDEWATCH_DATABASE_URL -u TIDEWATCH_REDIS_URL -u TIDEWATCH_RPC_URLS \
  PYTHONPATH="$root/functions:$root/local:$root${PYTHONPATH:+:$PYTHONPATH}" \
  TIDEWATCH_HOME="$home" TIDEWATCH_DEVNET_SIMULATE_SECONDS=5 TIDEWATCH_DEVNET_HISTORY_DAYS=0 \
  .venv/bin/tidewatch dev --port "$port" --tick 5 >"$log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$home"; }
trap cleanup EXIT

for _ in $(seq 1 180); do
  if curl -sf "http://127.0.0.1:$port/api/health" >/dev/null; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then echo "tidewatch dev exited:"; tail -50 "$log"; exit 1; fi
  sleep 1
done
curl -sf "http://127.0.0.1:$port/api/health" >/dev/null || { echo "tidewatch dev did not become healthy"; tail -50 "$log"; exit 1; }

# The server imports each function's modules on first use, so a file edited (or a branch merged)
# while it runs gives it a mix of old and new modules: failures then say nothing about the code.
changed_during_run() {
  find "$root/functions" "$root/local" "$root/template.yaml" -newer "$started" -type f \
    \( -name '*.py' -o -name '*.sql' -o -name '*.yaml' \) -not -path '*/__pycache__/*' 2>/dev/null | sed "s|^$root/||"
}

# The devnet's JSON-RPC (a free port): a wallet in `send` mode (TIDEWATCH_E2E_WALLET_MODE=send,
# like MetaMask) sends through it itself.
rpc=$(sed -n 's|^ *Chain: devnet (anvil) \(http://[^ ,]*\).*|\1|p' "$log" | head -1)

cd dashboard
TIDEWATCH_E2E_BASE_URL="http://127.0.0.1:$port" \
TIDEWATCH_E2E_RPC_URL="${TIDEWATCH_E2E_RPC_URL:-$rpc}" \
TIDEWATCH_E2E_DEVNET_REGISTRY="$home/devnet/registry.json" \
TIDEWATCH_CHROMIUM="$chromium" \
  npm run e2e --silent || {
    # The whole server log next to the screenshots (test-results/ is git-ignored): the scratch
    # folder is removed on exit.
    mkdir -p test-results && cp "$log" test-results/dev.log
    echo "--- tidewatch dev log (tail; all of it in $root/dashboard/test-results/dev.log)"; tail -80 "$log"
    changed=$(changed_during_run)
    if [ -n "$changed" ]; then
      echo "--- WARNING: these files changed while tidewatch dev was running, so it may have run a mix of"
      echo "    old and new code (e.g. a 500 'Internal error' from a module imported after the change):"
      echo "$changed" | sed 's/^/    /'
      echo "    rerun before trusting this failure."
    fi
    exit 1
  }
echo "dashboard e2e: screenshots in $root/dashboard/test-results/screenshots/"
