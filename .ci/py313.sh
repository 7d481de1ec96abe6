#!/usr/bin/env bash
# The Python 3.13 part of CI (.ci/run calls it after the 3.11 suite): a second virtualenv with
# the package and the test runner only, the demo (its kept count must equal the one on 3.11,
# whose venv is $VENV311) and a fast subset of the tests. A few minutes, most of it the install.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
find_python313() {
  local c
  for c in "${PYTHON313:-}" python3.13 "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.13*/bin/python3.13; do
    if [ -n "$c" ] && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  return 1
}
PY=$(find_python313) || { echo "py313: no Python 3.13 found (set PYTHON313)" >&2; exit 1; }
VENV=${VENV313:-.venv-ci313}
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q -e . "pytest>=8,<10" "pytest-timeout>=2.3" "hypothesis>=6.100"
"$VENV/bin/pip" install -q --force-reinstall --no-deps "fasttext-numpy2>=0.10.4,<0.11"  # as in .ci/run
"$VENV/bin/pip" check
echo "py313 install: $(( $(date +%s) - start )) s"

demo_kept() {  # kept documents of the demo run with the `pipeline` of venv $1
  local out
  out=$(mktemp -d)
  sed "s|path: out/demo|path: $out/demo|" configs/demo.yaml > "$out/demo.yaml"
  "$1/bin/pipeline" run "$out/demo.yaml" > "$out/log" 2>&1 || { cat "$out/log" >&2; return 1; }
  "$1/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["output"]["documents"])' "$out/demo/stats.json"
  rm -rf "$out"
}
kept311=$(demo_kept "${VENV311:-.venv-ci}")
kept313=$(demo_kept "$VENV")
echo "py313 demo: $kept313 kept (3.11: $kept311)"
[ "$kept311" = "$kept313" ] || { echo "py313: the demo keeps $kept313 documents on 3.13, $kept311 on 3.11" >&2; exit 1; }

"$VENV/bin/python" -m pytest -q -p no:cacheprovider -m "not slow" \
  tests/pipeline/test_recipe.py tests/pipeline/test_runner.py tests/operators/text/test_splitting.py \
  tests/operators/quality/test_keywords.py tests/operators/quality/test_gopher.py tests/operators/lm/test_normalize.py \
  tests/operators/lm/test_training.py tests/operators/dedup/test_minhash.py tests/pipeline/test_cli_ops.py
echo "py313: $(( $(date +%s) - start )) s in all"
