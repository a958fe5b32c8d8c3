#!/usr/bin/env bash
# Runs mypy on the package as it is installed: toolgym.envs, toolgym.agents, ... live in the top-level folders
# envs/, agents/, ... (setup.cfg package_dir), a mapping mypy cannot follow, so it would see every
# `from toolgym.agents ...` import as a missing module (Any) and check nothing across packages. This builds the
# installed layout as a tree of links in build/typecheck/ and checks that; paths in the output are the
# repository's. Settings, and the modules not yet clean, are in pyproject.toml.
#
#   scripts/typecheck.sh            (make typecheck; make test runs it first)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
PY="${PY:-$root/.venv/bin/python}"
case "$PY" in /*) ;; */*) PY="$root/$PY" ;; esac  # a relative path (make's .venv/bin/python): from the root
tree=build/typecheck
rm -rf "$tree"
mkdir -p "$tree/toolgym"
for f in toolgym/*; do ln -s "$root/$f" "$tree/toolgym/"; done
for d in envs agents algorithms benchmarks; do ln -s "$root/$d" "$tree/toolgym/$d"; done
cd "$tree"
# mypy's exit status, not sed's; paths back to the repository's (toolgym/agents/x.py -> agents/x.py)
set +e
"$PY" -m mypy --config-file "$root/pyproject.toml" --cache-dir "$root/.mypy_cache" -p toolgym 2>&1 |
  sed -E 's#^toolgym/(envs|agents|algorithms|benchmarks)/#\1/#'
status=${PIPESTATUS[0]}
exit "$status"
