#!/usr/bin/env bash
# Installs dependencies, builds, makes sure a Docker Engine answers (starting
# Debian's dockerd when none does and we are root), then runs dkd in the
# foreground on the default addresses (unix:///run/dkd/dkd.sock and
# 127.0.0.1:7575). Extra arguments go to dkd (see build/bin/dkd --help).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh

engine=${DOCKER_HOST:-unix:///var/run/docker.sock}
if ! docker -H "$engine" version >/dev/null 2>&1; then
  if [ "$engine" = unix:///var/run/docker.sock ] && [ "$(id -u)" = 0 ]; then
    echo "run: no Docker Engine answers; starting dockerd" >&2
    scripts/fixtures.sh engine
  else
    echo "run: warning: no Docker Engine answers at $engine; dkd will report NOT_SERVING until one does" >&2
  fi
fi
exec build/bin/dkd --engine "$engine" "$@"
