#!/usr/bin/env bash
# Makes (once) the Python 3.12 environment with Sentinel's real SDK that tests/sentinel_sdk.rs
# runs: target/sentinel-sdk-venv. Python 3.12 comes from pyenv on these machines.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${CARGO_TARGET_DIR:-$root/target}/sentinel-sdk-venv"
stamp="$venv/.requirements"
if [ -x "$venv/bin/python" ] && cmp -s "$here/requirements.txt" "$stamp"; then
  exit 0
fi
rm -rf "$venv"
PYENV_VERSION="${PYENV_VERSION:-3.12.1}" python3.12 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
cp "$here/requirements.txt" "$stamp"
