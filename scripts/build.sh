#!/usr/bin/env bash
# Configures and builds dkd (Release, Ninja, ccache when present) into build/.
# Warnings are errors when CI is set. Extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
werror=OFF
[ -n "${CI:-}" ] && werror=ON
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DDKD_WERROR="$werror" "$@" >/dev/null
ninja -C build -j"$(nproc)"
