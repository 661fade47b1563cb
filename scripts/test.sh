#!/usr/bin/env bash
# Installs dependencies, builds, starts the test fixtures (engine, registries,
# base image), runs every test through ctest (unit tests first), stops what it
# started, and exits non-zero on any failure. Prints each stage's duration.
set -euo pipefail
cd "$(dirname "$0")/.."

stage_start=0
stage() {  # stage NAME: starts timing a stage
  stage_name=$1
  stage_start=$(date +%s)
  echo "== $stage_name"
}
stage_done() {
  echo "== $stage_name: $(($(date +%s) - stage_start)) s"
}

stage "install dependencies"
scripts/install-deps.sh
stage_done

stage "build"
scripts/build.sh
stage_done

started_fixtures=0
cleanup() {
  if [ "$started_fixtures" = 1 ] && [ -z "${DKD_KEEP_FIXTURES:-}" ]; then
    scripts/fixtures.sh down || true
  fi
}
trap cleanup EXIT

stage "unit tests (no engine)"
(cd build && ctest -L unit --output-on-failure -j"$(nproc)")
stage_done

stage "fixtures"
scripts/fixtures.sh up >/dev/null
started_fixtures=1
eval "$(scripts/fixtures.sh env)"
stage_done

stage "integration and end-to-end tests (real engine)"
(cd build && ctest -L 'integration|e2e' --output-on-failure --timeout 600)
stage_done
