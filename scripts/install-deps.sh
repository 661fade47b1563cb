#!/usr/bin/env bash
# Installs every package dkd needs to build, run and test, from Debian 12's
# archive. Idempotent: when everything is present it only checks and returns.
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake ninja-build pkg-config ccache git ca-certificates curl procps
  # libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libcpp-httplib-dev nlohmann-json3-dev libarchive-dev
  libssl-dev zlib1g-dev prometheus-cpp-dev libsystemd-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # engine, registry and test tools
  docker.io docker-registry apache2-utils busybox-static iptables iproute2 openssl
  shellcheck python3 python3-grpcio python3-grpc-tools python3-pkg-resources
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "error: installing packages needs root (run as root or install: ${missing[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
