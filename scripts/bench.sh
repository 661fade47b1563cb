#!/usr/bin/env bash
# Side-by-side benchmarks of dkd against the engine used directly, in one run:
# medians and ratios, plus dkd's peak memory per phase. Prints a markdown table
# and the exact command of each row (also written to build/bench-results.md).
# Needs root (fixtures). Every build names its builder (classic or BuildKit);
# the BuildKit rows compare against `DOCKER_BUILDKIT=1 /usr/bin/docker build`
# (Debian's docker.io CLI, whatever `docker` comes first on PATH).
#   scripts/bench.sh            all phases
#   BENCH_ROUNDS=21 BENCH_SKIP_BIG=1 scripts/bench.sh   fewer rounds, no 1 GiB builds
#   BENCH_BIG_ROUNDS=3          rounds of each 1 GiB build pair (default 3)
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
commands=()
# row MEASUREMENT DKD ENGINE RATIO NOTE; the row's command is $row_cmd (set by cmd).
row() {
  results+=("| $1 | $2 | $3 | $4 | $5 |")
  commands+=("${#results[@]}. $1: $row_cmd")
}
# cmd ARGV... / cmd_pair ARGV_A... -- ARGV_B...: record the exact command(s) of the next row.
q() { local s; printf -v s '%q ' "$@"; printf '%s' "${s% }"; }
cmd() { row_cmd="\`$(q "$@")\`"; }
cmd_pair() {
  local a=() b=() sep=0 x
  for x in "$@"; do
    if [ "$x" = -- ]; then sep=1; continue; fi
    if [ $sep = 0 ]; then a+=("$x"); else b+=("$x"); fi
  done
  row_cmd="\`$(q "${a[@]}")\` vs \`$(q "${b[@]}")\`, alternating, $ROUNDS rounds"
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
now_ms() { echo $(( $(date +%s%N) / 1000 )); }  # microseconds
reset_peak() { echo 5 > "/proc/$dkd_pid/clear_refs"; }
peak_mib() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$dkd_pid/status"; }

# run_or_die OUT ARGV...: runs ARGV with its output in OUT; a failure stops the bench.
run_or_die() {
  local out=$1; shift
  "$@" >"$out" 2>&1 && return 0
  echo "failed: $(q "$@")" >&2
  [ "$out" = /dev/null ] || tail -20 "$out" >&2
  exit 1
}
# Times "$@" ROUNDS times, alternating with the other command; prints medians.
# With PAIR_LOGS=PREFIX, round i's output goes to PREFIX.a.i and PREFIX.b.i.
time_pair() {  # time_pair CMD_A -- CMD_B ; globals med_a med_b
  local a=() b=() sep=0 x
  for x in "$@"; do
    if [ "$x" = -- ]; then sep=1; continue; fi
    if [ $sep = 0 ]; then a+=("$x"); else b+=("$x"); fi
  done
  local ta=() tb=() t0 t1 i out_a=/dev/null out_b=/dev/null
  for i in $(seq 1 "$ROUNDS"); do
    if [ -n "${PAIR_LOGS:-}" ]; then out_a=$PAIR_LOGS.a.$i; out_b=$PAIR_LOGS.b.$i; fi
    t0=$(now_ms); run_or_die "$out_a" "${a[@]}"; t1=$(now_ms); ta+=($((t1 - t0)))
    t0=$(now_ms); run_or_die "$out_b" "${b[@]}"; t1=$(now_ms); tb+=($((t1 - t0)))
  done
  med_a=$(printf '%s\n' "${ta[@]}" | median)
  med_b=$(printf '%s\n' "${tb[@]}" | median)
}
ms() { awk -v u="$1" 'BEGIN {printf "%.2f ms", u/1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0) print "—"; else printf "%.2f", a/b}'; }
# context_secs LOG [NAME_REGEX]: seconds the build-context steps took in one
# `--progress=plain` log, the sum of the "DONE Ns" of every step whose name
# (the first line of its "#N") matches NAME_REGEX (default: "context", which is
# docker's filesync "[internal] load build context", and, for a context tar
# sent in the request, "[internal] load remote build context" and
# "copy /context /"); "none" when the build had no such step.
context_secs() {
  awk -v re="${2:-context}" '
       /^#[0-9]+ / && !($1 in seen) {seen[$1] = 1; if ($0 ~ re) {ctx[$1] = 1; n++}}
       /^#[0-9]+ DONE [0-9.]+s$/ && ($1 in ctx) {sub(/s$/, "", $3); t += $3}
       END {if (n) printf "%.1f", t; else printf "none"}' "$1"
}
BK_DOCKER=(env DOCKER_BUILDKIT=1 /usr/bin/docker)

echo "== 50 containers present" >&2
docker ps -aq --filter label=dkd.bench=1 | xargs -r docker rm -f >/dev/null
for i in $(seq 1 10); do docker run -d --label dkd.bench=1 "$DKD_TEST_BASE_IMAGE" sleep 3600 >/dev/null; done
for i in $(seq 1 40); do docker create --label dkd.bench=1 "$DKD_TEST_BASE_IMAGE" true >/dev/null; done
total=$(docker ps -aq | wc -l)

echo "== dkctl ps -a vs docker ps -a ($ROUNDS rounds)" >&2
cmd_pair "${DKCTL[@]}" ps -a -- docker ps -a
time_pair "${DKCTL[@]}" ps -a -- docker ps -a
row "\`dkctl ps -a\` vs \`docker ps -a\` ($total containers, whole process)" "$(ms "$med_a")" "$(ms "$med_b")" "$(ratio "$med_a" "$med_b")" "≤ 0.8"

echo "== ListContainers through dkd vs direct engine call" >&2
cmd build/bench/dkd_bench list "unix:$run/dkd.sock" "$DKD_TEST_ENGINE" 200
out=$(build/bench/dkd_bench list "unix:$run/dkd.sock" "$DKD_TEST_ENGINE" 200)
get() { awk -v k="$1" '$1 == k {print $2}' <<<"$out"; }
row "ListContainers p50, warm channel vs same call on the socket ($(get containers) containers, 200 rounds)" \
  "$(get dkd_p50_ms) ms" "$(get direct_p50_ms) ms" "$(get ratio_p50)" "≤ 1.15"

echo "== the same, with the container-list cache disabled (pass-through)" >&2
build/bin/dkd --engine "$DKD_TEST_ENGINE" --unix-socket "$run/nocache.sock" --tcp "" --http 127.0.0.1:0 \
  --list-cache-max-age 0 --log-level warn >"$run/nocache.log" 2>&1 &
nocache_pid=$!
for _ in $(seq 1 200); do [ -S "$run/nocache.sock" ] && break; sleep 0.05; done
cmd_pair build/bin/dkctl -H "unix://$run/nocache.sock" ps -a -- docker ps -a
time_pair build/bin/dkctl -H "unix://$run/nocache.sock" ps -a -- docker ps -a
row "\`dkctl ps -a\` vs \`docker ps -a\`, cache disabled" "$(ms "$med_a")" "$(ms "$med_b")" "$(ratio "$med_a" "$med_b")" "≤ 0.8"
cmd build/bench/dkd_bench list "unix:$run/nocache.sock" "$DKD_TEST_ENGINE" 200
out=$(build/bench/dkd_bench list "unix:$run/nocache.sock" "$DKD_TEST_ENGINE" 200)
row "ListContainers p50, cache disabled (every call goes to the engine)" \
  "$(get dkd_p50_ms) ms" "$(get direct_p50_ms) ms" "$(get ratio_p50)" \
  "≤ 1.15; an almost empty RPC costs $(get grpc_floor_p50_ms) ms"
for clients in 1 8 64; do
  cmd build/bench/dkd_bench listload "unix:$run/nocache.sock" "$DKD_TEST_ENGINE" "$clients" 2
  out=$(build/bench/dkd_bench listload "unix:$run/nocache.sock" "$DKD_TEST_ENGINE" "$clients" 2)
  row "ListContainers throughput, cache disabled, $clients concurrent clients (own connections, 3×2 s)" \
    "$(get dkd_calls_per_s) calls/s" "$(get direct_calls_per_s) calls/s" "$(get ratio)" "≥ 0.9"
done
kill "$nocache_pid"

echo "== build log latency and 100 MB of output (classic builder)" >&2
reset_peak
cmd build/bench/dkd_bench buildlog "unix:$run/dkd.sock" "$DKD_TEST_BASE_IMAGE" 200 104857600 classic
out=$(build/bench/dkd_bench buildlog "unix:$run/dkd.sock" "$DKD_TEST_BASE_IMAGE" 200 104857600 classic)
row "build log line (classic), engine → gRPC client (200 lines; /proc/uptime, 10 ms resolution)" \
  "p50 $(get latency_p50_ms) ms, p99 $(get latency_p99_ms) ms" "—" "—" "p99 ≤ 50 ms"
row "100 MiB of build output (classic): bytes received / expected, dkd peak RSS" \
  "$(get filler_received_bytes) / $(get filler_expected_bytes) ($(get filler_complete))" "—" "—" "peak $(peak_mib) MiB"

# BuildKit v0.8 (docker.io 20.10) clips a step's log at 1 MiB and 100 KiB/s
# unless dockerd runs with BUILDKIT_STEP_LOG_MAX_SIZE/SPEED=-1, so the byte
# volume stays small here: 256 KiB after the ~4 s of uptime lines is within
# both limits; the row reports what arrived, clipped or not.
echo "== build log latency (BuildKit)" >&2
bk_bytes=${BENCH_BUILDKIT_LOG_BYTES:-262144}
reset_peak
cmd build/bench/dkd_bench buildlog "unix:$run/dkd.sock" "$DKD_TEST_BASE_IMAGE" 200 "$bk_bytes" buildkit
out=$(build/bench/dkd_bench buildlog "unix:$run/dkd.sock" "$DKD_TEST_BASE_IMAGE" 200 "$bk_bytes" buildkit)
row "build log line (BuildKit), engine → gRPC client (200 lines; /proc/uptime, 10 ms resolution)" \
  "p50 $(get latency_p50_ms) ms, p99 $(get latency_p99_ms) ms ($(get latency_lines) lines)" "—" "—" "p99 ≤ 50 ms"
row "$((bk_bytes / 1024)) KiB of build output (BuildKit): bytes received / expected, engine clipped, dkd peak RSS" \
  "$(get filler_received_bytes) / $(get filler_expected_bytes) ($(get filler_complete)); clipped: $(get clipped)" "—" "—" "peak $(peak_mib) MiB"

echo "== 30-step Dockerfile, warm cache (BuildKit)" >&2
steps=$WORK/steps30
rm -rf "$steps"; mkdir -p "$steps"
{
  printf 'FROM %s\n' "$DKD_TEST_BASE_IMAGE"
  for i in $(seq 1 30); do
    if [ $((i % 5)) = 0 ]; then
      printf 'step %s\n' "$i" >"$steps/f$i"
      printf 'COPY f%s /c/f%s\n' "$i" "$i"
    else
      printf 'RUN echo %s > /s%s\n' "$i" "$i"
    fi
  done
} >"$steps/Dockerfile"
BK_DKCTL=("${DKCTL[@]}" build --builder buildkit --progress plain --pull=false)
BK_DOCKER_BUILD=("${BK_DOCKER[@]}" build --progress=plain --pull=false)
# Warm the cache through both clients, untimed.
run_or_die "$run/steps-warm-dkctl.log" "${BK_DKCTL[@]}" -t dkd-bench-steps:dkctl "$steps"
run_or_die "$run/steps-warm-docker.log" "${BK_DOCKER_BUILD[@]}" -t dkd-bench-steps:docker "$steps"
cmd_pair "${BK_DKCTL[@]}" -t dkd-bench-steps:dkctl "$steps" -- "${BK_DOCKER_BUILD[@]}" -t dkd-bench-steps:docker "$steps"
PAIR_LOGS=$run/steps time_pair "${BK_DKCTL[@]}" -t dkd-bench-steps:dkctl "$steps" -- \
  "${BK_DOCKER_BUILD[@]}" -t dkd-bench-steps:docker "$steps"
cached_a=$(grep -c ' CACHED$' "$run/steps.a.$ROUNDS" || true)
cached_b=$(grep -c ' CACHED$' "$run/steps.b.$ROUNDS" || true)
row "\`dkctl build --builder buildkit\` vs \`docker build\` (BuildKit), 30-step Dockerfile (24 RUN, 6 COPY), warm cache" \
  "$(ms "$med_a")" "$(ms "$med_b")" "$(ratio "$med_a" "$med_b")" \
  "≤ 1.05; steps CACHED in the last round: dkd $cached_a, docker $cached_b"

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
  big=${BENCH_BIG_ROUNDS:-3}
  saved=$ROUNDS; ROUNDS=$big
  reset_peak
  cmd_pair "${DKCTL[@]}" build --builder classic -q --pull=false --no-cache -t dkd-bench-ctx:dkctl "$ctx" -- \
    env DOCKER_BUILDKIT=0 docker build -q --pull=false --no-cache -t dkd-bench-ctx:docker "$ctx"
  time_pair "${DKCTL[@]}" build --builder classic -q --pull=false --no-cache -t dkd-bench-ctx:dkctl "$ctx" -- \
    env DOCKER_BUILDKIT=0 docker build -q --pull=false --no-cache -t dkd-bench-ctx:docker "$ctx"
  row "\`dkctl build --builder classic\` vs \`docker build\` (classic), $files files, $((bytes / 1048576)) MiB context, median of $big" \
    "$(ms "$med_a")" "$(ms "$med_b")" "$(ratio "$med_a" "$med_b")" "≤ 1.1; dkd peak $(peak_mib) MiB (≤ 64)"

  echo "== 1 GiB, 20,000-file build context (BuildKit)" >&2
  reset_peak
  cmd_pair "${DKCTL[@]}" build --builder buildkit --progress plain --pull=false --no-cache -t dkd-bench-ctx:dkctl-bk "$ctx" -- \
    "${BK_DOCKER[@]}" build --progress=plain --pull=false --no-cache -t dkd-bench-ctx:docker-bk "$ctx"
  PAIR_LOGS=$run/big-bk time_pair "${DKCTL[@]}" build --builder buildkit --progress plain --pull=false --no-cache \
    -t dkd-bench-ctx:dkctl-bk "$ctx" -- \
    "${BK_DOCKER[@]}" build --progress=plain --pull=false --no-cache -t dkd-bench-ctx:docker-bk "$ctx"
  peak=$(peak_mib)
  row "\`dkctl build --builder buildkit\` vs \`docker build\` (BuildKit), $files files, $((bytes / 1048576)) MiB context, --no-cache, median of $big" \
    "$(ms "$med_a")" "$(ms "$med_b")" "$(ratio "$med_a" "$med_b")" "≤ 1.05; dkd peak $peak MiB (≤ 64)"
  # The context steps of the same builds, from their plain progress logs.
  ctx_a=() ctx_b=() ctx_a_sum=()
  for i in $(seq 1 "$big"); do
    ctx_a_sum+=("$(context_secs "$run/big-bk.a.$i")")
    ctx_a+=("$(context_secs "$run/big-bk.a.$i") ($(context_secs "$run/big-bk.a.$i" 'load remote build context') + $(context_secs "$run/big-bk.a.$i" 'copy /context'))")
    ctx_b+=("$(context_secs "$run/big-bk.b.$i")")
  done
  # What docker's CLI sent: its "transferring" lines (filesync sends only the
  # paths the Dockerfile reads, and only files changed since its last transfer).
  sent_b=$(grep -h '^#[0-9]* transferring' "$run/big-bk.b.$big" | sed 's/^#[0-9]* //; s/ done$//' | paste -sd ';' - | sed 's/;/; /g')
  row_cmd="the context steps' \"DONE\" times in the plain progress of the builds of row $((${#results[@]}))"
  row "BuildKit, $((bytes / 1048576)) MiB context: context steps, seconds per round (dkd: the tar in the request, total (\"load remote build context\" + \"copy /context /\"); docker: filesync, \"load build context\")" \
    "${ctx_a[*]}" "${ctx_b[*]}" "—" \
    "docker's last round sent: ${sent_b:-nothing}"
  ROUNDS=$saved
fi

{
  echo "| measurement | dkd | engine directly | ratio | target / note |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${results[@]}"
  echo
  echo "Commands (row: command):"
  echo
  printf '%s\n' "${commands[@]}"
} | tee build/bench-results.md

if [ -x scripts/bench_image.sh ] && [ -z "${BENCH_SKIP_IMAGE:-}" ]; then
  echo >&2; echo "== image analysis (scripts/bench_image.sh)" >&2
  scripts/bench_image.sh
fi
