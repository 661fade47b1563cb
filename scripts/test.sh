#!/usr/bin/env bash
# Installs dependencies, builds, starts the test fixtures (engine, registries,
# base image), runs every test through ctest (unit tests first), stops what it
# started, and exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh

started_fixtures=0
cleanup() {
  if [ "$started_fixtures" = 1 ] && [ -z "${DKD_KEEP_FIXTURES:-}" ]; then
    scripts/fixtures.sh down || true
  fi
}
trap cleanup EXIT

echo "== unit tests (no engine)"
(cd build && ctest -L unit --output-on-failure -j"$(nproc)")

echo "== fixtures"
scripts/fixtures.sh up >/dev/null
started_fixtures=1
eval "$(scripts/fixtures.sh env)"

echo "== integration and end-to-end tests (real engine)"
(cd build && ctest -L 'integration|e2e' --output-on-failure --timeout 600)
