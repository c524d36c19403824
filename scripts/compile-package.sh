#!/usr/bin/env bash
# Compiles the bytecode of a sam build folder in place (every function's code and every layer),
# so Lambda imports .pyc files instead of compiling each module at every cold start: /var/task
# and /opt are read-only there, and the layers sam build makes ship source only.
# unchecked-hash: the .pyc is used without comparing the source's timestamp, which zipping and
# unzipping do not keep exactly. Needs the runtime's Python version (python3.13).
set -euo pipefail
build=${1:?usage: scripts/compile-package.sh BUILD_DIR [PYTHON]}
python=${2:-$("$(dirname "$0")/find-python.sh" 3.13)}
"$python" -m compileall -q -j 0 --invalidation-mode unchecked-hash "$build"
