#!/usr/bin/env bash
# Benchmark: deep image analysis (dkctl analyze --deep) against a plain
# `docker save IMAGE > /dev/null` of the same ~1 GiB image, plus dkd's peak
# memory. Prints a markdown table.
#
# usage: scripts/bench_image.sh [BUILD_DIR]   (default: build)
# env:   ROUNDS (5), LAYERS (4), LAYER_MIB (256), KEEP_IMAGE=1 keeps the image.
# Needs the fixtures' base image: eval "$(scripts/fixtures.sh env)".
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
ROUNDS=${ROUNDS:-5}
LAYERS=${LAYERS:-4}
LAYER_MIB=${LAYER_MIB:-256}
IMAGE=dkd-bench:image-$LAYERS-x-$LAYER_MIB
DKD=$BUILD/bin/dkd
DKCTL=$BUILD/bin/dkctl

die() { echo "bench_image: $*" >&2; exit 1; }
[ -x "$DKD" ] && [ -x "$DKCTL" ] || die "build dkd and dkctl into $BUILD first"
[ -n "${DKD_TEST_BASE_IMAGE:-}" ] || eval "$("$ROOT/scripts/fixtures.sh" env)"
[ -n "${DKD_TEST_BASE_IMAGE:-}" ] || die "no base image: run scripts/fixtures.sh up"

WORK=$(mktemp -d /tmp/dkd-bench.XXXXXX)
DKD_PID=
cleanup() {
  [ -n "$DKD_PID" ] && kill "$DKD_PID" 2>/dev/null && wait "$DKD_PID" 2>/dev/null
  [ "${KEEP_IMAGE:-0}" = 1 ] || docker rmi -f "$IMAGE" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  {
    echo "FROM $DKD_TEST_BASE_IMAGE"
    for i in $(seq 1 "$LAYERS"); do
      echo "RUN dd if=/dev/urandom of=/data$i bs=1M count=$LAYER_MIB 2>/dev/null"
    done
  } >"$WORK/Dockerfile"
  echo "building $IMAGE ($LAYERS layers of $LAYER_MIB MiB of random data)..." >&2
  DOCKER_BUILDKIT=0 docker build --pull=false -q -t "$IMAGE" "$WORK" >/dev/null
fi

"$DKD" --unix-socket "$WORK/dkd.sock" --tcp "" --http 127.0.0.1:0 --log-level warn >"$WORK/dkd.log" 2>&1 &
DKD_PID=$!
for _ in $(seq 1 100); do
  [ -S "$WORK/dkd.sock" ] && break
  sleep 0.1
done
[ -S "$WORK/dkd.sock" ] || die "dkd did not start: $(cat "$WORK/dkd.log")"
export DKD_HOST=unix://$WORK/dkd.sock

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l; }
median() { sort -g | awk '{a[NR] = $1} END {m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.3f", m}'; }

# One untimed save warms the page cache for both sides.
docker save "$IMAGE" >/dev/null
: >"$WORK/dkctl.times"
: >"$WORK/save.times"
for round in $(seq 1 "$ROUNDS"); do
  t0=$(now)
  "$DKCTL" analyze "$IMAGE" --deep --format json >/dev/null
  t1=$(now)
  docker save "$IMAGE" >/dev/null
  t2=$(now)
  elapsed "$t0" "$t1" >>"$WORK/dkctl.times"
  elapsed "$t1" "$t2" >>"$WORK/save.times"
  echo "round $round: analyze $(tail -1 "$WORK/dkctl.times")s, save $(tail -1 "$WORK/save.times")s" >&2
done
hwm_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$DKD_PID/status")
size_bytes=$(docker image inspect --format '{{.Size}}' "$IMAGE")
analyze=$(median <"$WORK/dkctl.times")
save=$(median <"$WORK/save.times")
ratio=$(echo "$analyze / $save" | bc -l)

printf '\n| image | size | rounds | `dkctl analyze --deep` median | `docker save > /dev/null` median | ratio | dkd peak RSS (VmHWM) |\n'
printf '|---|---|---|---|---|---|---|\n'
printf '| %s | %.2f GiB | %d | %.3f s | %.3f s | %.2fx | %.1f MiB |\n' "$IMAGE" \
  "$(echo "$size_bytes / 1073741824" | bc -l)" "$ROUNDS" "$analyze" "$save" "$ratio" \
  "$(echo "$hwm_kib / 1024" | bc -l)"
