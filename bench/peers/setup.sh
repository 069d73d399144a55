#!/usr/bin/env bash
# Creates bench/peers/.venv (Python 3.11, the peers of requirements.txt) and, when Python 3.12
# is found, bench/peers/.venv-oban (Oban's Python port). Idempotent: run it again to sync.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
find_python() {  # $1: version (3.11, 3.12)
    for p in "python$1" "/root/.pyenv/versions/$1"*/bin/python "$HOME/.pyenv/versions/$1"*/bin/python; do
        if command -v "$p" >/dev/null 2>&1 && "$p" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$1'.split('.')))" 2>/dev/null; then
            command -v "$p"; return 0
        fi
    done
    return 1
}
py311="$(find_python 3.11)" || { echo "setup.sh: Python 3.11 not found" >&2; exit 1; }
[ -x "$here/.venv/bin/python" ] || "$py311" -m venv "$here/.venv"
"$here/.venv/bin/python" -m pip install -q --upgrade pip
"$here/.venv/bin/python" -m pip install -q -r "$here/requirements.txt"
if py312="$(find_python 3.12)"; then
    [ -x "$here/.venv-oban/bin/python" ] || "$py312" -m venv "$here/.venv-oban"
    "$here/.venv-oban/bin/python" -m pip install -q --upgrade pip
    "$here/.venv-oban/bin/python" -m pip install -q -r "$here/requirements-oban.txt" \
        || echo "setup.sh: the Oban venv could not be built; throughput.py skips Oban" >&2
else
    echo "setup.sh: Python 3.12 not found; throughput.py skips Oban" >&2
fi
echo "peers: $here/.venv/bin/python bench/peers/throughput.py --help"
