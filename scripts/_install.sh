# Sourced by scripts/serve and scripts/test: make .venv and install a lock into it.
#   install_lock requirements/dev.lock
# Every package comes from the lock, at its pinned version, checked against its hashes;
# TSS itself is installed editable, built with the locked setuptools. A stamp skips the
# install when neither the lock nor pyproject.toml changed since the last one.
install_lock() {
  local lock=$1 python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "TSS needs Python 3.11 or newer: set PYTHON=/path/to/python3.11" >&2
    return 1
  fi
  if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
  fi
  local stamp=".venv/.tss-installed-$(basename "$lock")"
  local want
  want=$(cat "$lock" pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes \
    --no-deps -r "$lock"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
    --no-build-isolation -e .
  .venv/bin/python -m pip check >/dev/null || { .venv/bin/python -m pip check; return 1; }
  echo "$want" >"$stamp"
}
