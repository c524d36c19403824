#!/usr/bin/env bash
# Prints the path of a working python interpreter of the version given (default 3.13, AWS
# Lambda's runtime): python3.13 on PATH first, then pyenv's versions folder. Prints nothing and
# exits 1 if there is none. A pyenv shim for a version that is installed but not selected fails
# when run, so each candidate is run once before it is taken.
set -u
version=${1:-3.13}
works() { [ -x "$1" ] && "$1" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$version'.split('.'))))" 2>/dev/null; }
if found=$(command -v "python$version" 2>/dev/null) && works "$found"; then
  echo "$found"
  exit 0
fi
# Newest patch release first (3.13.10 before 3.13.9).
for folder in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".* 2>/dev/null | sort -V -r); do
  candidate="$folder/bin/python$version"
  if works "$candidate"; then
    echo "$candidate"
    exit 0
  fi
done
exit 1
