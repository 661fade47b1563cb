#!/usr/bin/env bash
# Side-by-side benchmarks of dkd against the engine used directly, in one run:
# medians and ratios, plus dkd's peak memory per phase. Prints a markdown table
# (also written to build/bench-results.md). Needs root (fixtures).
#   scripts/bench.sh            all phases
#   BENCH_ROUNDS=21 BENCH_SKIP_BIG=1 scripts/bench.sh   fewer rounds, no 1 GiB build
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${BENCH_ROUNDS:-21}
WORK=${BENCH_DIR:-/var/tmp/dkd-bench}

scripts/install-deps.sh
scripts/build.sh >/dev/null
scripts/fixtures.sh up >/dev/null
eval "$(scripts/fixtures.sh env)"
mkdir -p "$WORK"
run=$(mktemp -d /tmp/dkdb.XXXXXX)
build/bin/dkd --engine "$DKD_TEST_ENGINE" --unix-socket "$run/dkd.sock" --tcp 127.0.0.1:0 --http 127.0.0.1:0 \
  --port-file "$run/port" --log-level warn >"$run/dkd.log" 2>&1 &
dkd_pid=$!
cleanup() {
  kill "$dkd_pid" 2>/dev/null || true
  docker ps -aq --filter label=dkd.bench=1 | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker images -q 'dkd-bench-*' | sort -u | xargs -r docker rmi -f >/dev/null 2>&1 || true
  rm -rf "$run"
}
trap cleanup EXIT
for _ in $(seq 1 200); do [ -s "$run/port" ] && break; sleep 0.05; done
DKCTL=(build/bin/dkctl -H "unix://$run/dkd.sock")
results=()
row() { results+=("| $1 | $2 | $3 | $4 | $5 |"); }

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
now_ms() { echo $(( $(date +%s%N) / 1000 )); }  # microseconds
reset_peak() { echo 5 > "/proc/$dkd_pid/clear_refs"; }
peak_mib() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$dkd_pid/status"; }

# Times "$@" ROUNDS times, alternating with the other command; prints medians.
time_pair() {  # time_pair LABEL_A CMD_A -- LABEL_B CMD_B ; globals med_a med_b
  local a=() b=() sep=0 x
  for x in "$@"; do
    if [ "$x" = -- ]; then sep=1; continue; fi
    if [ $sep = 0 ]; then a+=("$x"); else b+=("$x"); fi
  done
  local ta=() tb=() t0 t1 i
  for i in $(seq 1 "$ROUNDS"); do
    t0=$(now_ms); "${a[@]}" >/dev/null 2>&1; t1=$(now_ms); ta+=($((t1 - t0)))
    t0=$(now_ms); "${b[@]}" >/dev/null 2>&1; t1=$(now_ms); tb+=($((t1 - t0)))
  done
  med_a=$(printf '%s\n' "${ta[@]}" | median)
  med_b=$(printf '%s\n' "${tb[@]}" | median)
}
ms() { awk -v u="$1" 'BEGIN {printf "%.2f ms", u/1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }

echo "== 50 containers present" >&2
docker ps -aq --filter label=dkd.bench=1 | xargs -r docker rm -f >/dev/null
for i in $(seq 1 10); do docker run -d --label dkd.bench=1 "$DKD_TEST_BASE_IMAGE" sleep 3600 >/dev/null; done
for i in $(seq 1 40); do docker create --label dkd.bench=1 "$DKD_TEST_BASE_IMAGE" true >/dev/null; done
total=$(docker ps -aq | wc -l)

echo "== dkctl ps -a vs docker ps -a ($ROUNDS rounds)" >&2
time_pair "${DKCTL[@]}" ps -a -- docker ps -a
row "\`dkctl ps -a\` vs \`docker ps -a\` ($total containers, whole process)" "$(ms "$med_a")" "$(ms "$med_b")" "$(ratio "$med_a" "$med_b")" "≤ 0.8"

echo "== ListContainers through dkd vs direct engine call" >&2
out=$(build/bench/dkd_bench list "unix:$run/dkd.sock" "$DKD_TEST_ENGINE" 200)
get() { awk -v k="$1" '$1 == k {print $2}' <<<"$out"; }
row "ListContainers p50, warm channel vs same call on the socket ($(get containers) containers, 200 rounds)" \
  "$(get dkd_p50_ms) ms" "$(get direct_p50_ms) ms" "$(get ratio_p50)" "≤ 1.15"

echo "== the same, with the container-list cache disabled (pass-through)" >&2
build/bin/dkd --engine "$DKD_TEST_ENGINE" --unix-socket "$run/nocache.sock" --tcp "" --http 127.0.0.1:0 \
  --list-cache-max-age 0 --log-level warn >"$run/nocache.log" 2>&1 &
nocache_pid=$!
for _ in $(seq 1 200); do [ -S "$run/nocache.sock" ] && break; sleep 0.05; done
time_pair build/bin/dkctl -H "unix://$run/nocache.sock" ps -a -- docker ps -a
row "\`dkctl ps -a\` vs \`docker ps -a\`, cache disabled" "$(ms "$med_a")" "$(ms "$med_b")" "$(ratio "$med_a" "$med_b")" "≤ 0.8"
out=$(build/bench/dkd_bench list "unix:$run/nocache.sock" "$DKD_TEST_ENGINE" 200)
row "ListContainers p50, cache disabled (every call goes to the engine)" \
  "$(get dkd_p50_ms) ms" "$(get direct_p50_ms) ms" "$(get ratio_p50)" \
  "≤ 1.15; an almost empty RPC costs $(get grpc_floor_p50_ms) ms"
for clients in 1 8 64; do
  out=$(build/bench/dkd_bench listload "unix:$run/nocache.sock" "$DKD_TEST_ENGINE" "$clients" 2)
  row "ListContainers throughput, cache disabled, $clients concurrent clients (own connections, 3×2 s)" \
    "$(get dkd_calls_per_s) calls/s" "$(get direct_calls_per_s) calls/s" "$(get ratio)" "≥ 0.9"
done
kill "$nocache_pid"

echo "== build log latency and 100 MB of output" >&2
reset_peak
out=$(build/bench/dkd_bench buildlog "unix:$run/dkd.sock" "$DKD_TEST_BASE_IMAGE" 200 104857600)
row "build log line, engine → gRPC client (200 lines; /proc/uptime, 10 ms resolution)" \
  "p50 $(get latency_p50_ms) ms, p99 $(get latency_p99_ms) ms" "—" "—" "p99 ≤ 50 ms"
row "100 MiB of build output: bytes received / expected, dkd peak RSS" \
  "$(get filler_received_bytes) / $(get filler_expected_bytes) ($(get filler_complete))" "—" "—" "peak $(peak_mib) MiB"

if [ -z "${BENCH_SKIP_BIG:-}" ]; then
  echo "== 1 GiB, 20,000-file build context" >&2
  ctx=$WORK/ctx-1g
  if [ ! -f "$ctx/.complete" ]; then
    rm -rf "$ctx"; mkdir -p "$ctx"
    for d in $(seq -w 0 99); do
      mkdir -p "$ctx/d$d"
      head -c $((200 * 53687)) /dev/urandom | split -b 53687 -a 3 -d - "$ctx/d$d/f"
    done
    printf 'FROM %s\nRUN true\n' "$DKD_TEST_BASE_IMAGE" >"$ctx/Dockerfile"
    touch "$ctx/.complete"
  fi
  files=$(find "$ctx" -type f | wc -l); bytes=$(du -sb "$ctx" | cut -f1)
  reset_peak
  saved=$ROUNDS; ROUNDS=${BENCH_BIG_ROUNDS:-3}
  time_pair "${DKCTL[@]}" build -q --pull=false --no-cache -t dkd-bench-ctx:dkctl "$ctx" -- \
    env DOCKER_BUILDKIT=0 docker build -q --pull=false --no-cache -t dkd-bench-ctx:docker "$ctx"
  ROUNDS=$saved
  row "\`dkctl build\` vs \`docker build\` (classic), $files files, $((bytes / 1048576)) MiB context, median of ${BENCH_BIG_ROUNDS:-3}" \
    "$(ms "$med_a")" "$(ms "$med_b")" "$(ratio "$med_a" "$med_b")" "≤ 1.1; dkd peak $(peak_mib) MiB (≤ 64)"
fi

{
  echo "| measurement | dkd | engine directly | ratio | target / note |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${results[@]}"
} | tee build/bench-results.md

if [ -x scripts/bench_image.sh ] && [ -z "${BENCH_SKIP_IMAGE:-}" ]; then
  echo >&2; echo "== image analysis (scripts/bench_image.sh)" >&2
  scripts/bench_image.sh
fi
