#!/usr/bin/env bash
# Test fixtures for dkd, usable by hand and by scripts/test.sh:
#   - a Docker Engine (reuses one that answers, else starts Debian's dockerd
#     with its own data root and log file),
#   - a local registry on a free 127.0.0.1 port (docker-registry),
#   - a second registry protected by htpasswd (apache2-utils),
#   - a base image made from busybox-static with `docker import`, pushed to the
#     open registry, so `FROM <registry>/busybox` and pull=true builds work offline.
#
# usage: scripts/fixtures.sh up     start what is missing, print the env file path
#        scripts/fixtures.sh engine only make sure an engine answers
#        scripts/fixtures.sh env    print the exports (source them: eval "$(scripts/fixtures.sh env)")
#        scripts/fixtures.sh down   stop what `up` started
# Idempotent: `up` twice reuses what answers. State lives in $DKD_FIXTURES_DIR.
set -euo pipefail

STATE=${DKD_FIXTURES_DIR:-/var/tmp/dkd-fixtures}
ENV_FILE=$STATE/env
ENGINE_SOCK=${DKD_FIXTURE_ENGINE_SOCK:-/var/run/docker.sock}
AUTH_USER=dkd-test
mkdir -p "$STATE"

log() { printf 'fixtures: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

engine_answers() { docker -H "unix://$ENGINE_SOCK" version >/dev/null 2>&1; }

start_engine() {
  if engine_answers; then
    log "engine answers at unix://$ENGINE_SOCK; reusing it"
    return
  fi
  command -v dockerd >/dev/null || die "no engine answers and dockerd is not installed (scripts/install-deps.sh)"
  [ "$(id -u)" = 0 ] || die "no engine answers, and starting dockerd needs root"
  local root=/var/lib/dkd-engine
  # overlay2 cannot stack on an overlay filesystem (as in a container); use the
  # standard data root there, which is normally a real filesystem or a volume.
  if [ "$(stat -f -c %T /var/lib 2>/dev/null)" = overlayfs ]; then root=/var/lib/docker; fi
  mkdir -p "$root"
  log "starting dockerd (data root $root, log $STATE/dockerd.log)"
  # cgroupfs keeps dockerd independent of systemd, which may not run here.
  setsid dockerd --host "unix://$ENGINE_SOCK" --data-root "$root" \
    --exec-opt native.cgroupdriver=cgroupfs --pidfile "$STATE/dockerd.pid" \
    >"$STATE/dockerd.log" 2>&1 < /dev/null &
  echo $! >"$STATE/dockerd.started"
  for _ in $(seq 1 120); do
    engine_answers && { log "engine is up"; return; }
    kill -0 "$(cat "$STATE/dockerd.started")" 2>/dev/null || break
    sleep 0.5
  done
  tail -20 "$STATE/dockerd.log" >&2 || true
  die "dockerd did not come up"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

registry_answers() { curl -s -o /dev/null -w '%{http_code}' "http://$1/v2/" 2>/dev/null | grep -qE '^(200|401)$'; }

# start_registry NAME [htpasswd-file]
start_registry() {
  local name=$1 htpasswd=${2:-} addr_file=$STATE/$1.addr
  if [ -f "$addr_file" ] && registry_answers "$(cat "$addr_file")"; then
    log "registry $name answers at $(cat "$addr_file"); reusing it"
    return
  fi
  command -v docker-registry >/dev/null || die "docker-registry is not installed (scripts/install-deps.sh)"
  local port tries=0
  while :; do
    port=$((20000 + RANDOM % 30000))
    port_free "$port" && break
    tries=$((tries + 1)); [ $tries -lt 50 ] || die "no free port found"
  done
  mkdir -p "$STATE/$name-data"
  {
    echo "version: 0.1"
    echo "log: {level: warn}"
    echo "storage:"
    echo "  filesystem: {rootdirectory: $STATE/$name-data}"
    echo "  delete: {enabled: true}"
    echo "http: {addr: 127.0.0.1:$port}"
    if [ -n "$htpasswd" ]; then
      echo "auth:"
      echo "  htpasswd: {realm: dkd-test, path: $htpasswd}"
    fi
  } >"$STATE/$name.yml"
  setsid docker-registry serve "$STATE/$name.yml" >"$STATE/$name.log" 2>&1 < /dev/null &
  echo $! >"$STATE/$name.pid"
  for _ in $(seq 1 100); do
    if registry_answers "127.0.0.1:$port"; then
      echo "127.0.0.1:$port" >"$addr_file"
      log "registry $name on 127.0.0.1:$port"
      return
    fi
    sleep 0.1
  done
  tail -20 "$STATE/$name.log" >&2 || true
  die "registry $name did not come up"
}

make_base_image() {
  local registry=$1 ref=$1/busybox:latest
  if docker image inspect "$ref" >/dev/null 2>&1 &&
     curl -sf "http://$registry/v2/busybox/manifests/latest" \
       -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' >/dev/null; then
    log "base image $ref present"
    return
  fi
  [ -x /bin/busybox ] || die "busybox-static is not installed (scripts/install-deps.sh)"
  local rootfs
  rootfs=$(mktemp -d "$STATE/rootfs.XXXX")
  mkdir -p "$rootfs"/{bin,etc,tmp,root,home,var/tmp}
  chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  tar -C "$rootfs" -c . | docker import \
    -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - "$ref" >/dev/null
  rm -rf "$rootfs"
  docker tag "$ref" busybox:latest
  docker push "$ref" >/dev/null
  log "base image $ref imported and pushed"
}

up() {
  start_engine
  if [ ! -f "$STATE/htpasswd" ]; then
    command -v htpasswd >/dev/null || die "htpasswd is missing (apache2-utils)"
    head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$STATE/auth-password"
    htpasswd -Bbn "$AUTH_USER" "$(cat "$STATE/auth-password")" >"$STATE/htpasswd"
  fi
  start_registry registry
  start_registry auth-registry "$STATE/htpasswd"
  make_base_image "$(cat "$STATE/registry.addr")"
  {
    echo "export DKD_TEST_ENGINE=unix://$ENGINE_SOCK"
    echo "export DKD_TEST_REGISTRY=$(cat "$STATE/registry.addr")"
    echo "export DKD_TEST_AUTH_REGISTRY=$(cat "$STATE/auth-registry.addr")"
    echo "export DKD_TEST_AUTH_USER=$AUTH_USER"
    echo "export DKD_TEST_AUTH_PASSWORD=$(cat "$STATE/auth-password")"
    echo "export DKD_TEST_BASE_IMAGE=$(cat "$STATE/registry.addr")/busybox:latest"
  } >"$ENV_FILE"
  echo "$ENV_FILE"
}

down() {
  for name in registry auth-registry; do
    if [ -f "$STATE/$name.pid" ]; then
      kill "$(cat "$STATE/$name.pid")" 2>/dev/null || true
      rm -f "$STATE/$name.pid" "$STATE/$name.addr"
    fi
  done
  if [ -f "$STATE/dockerd.started" ]; then
    local pid
    pid=$(cat "$STATE/dockerd.started")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$STATE/dockerd.started"
    log "stopped dockerd"
  fi
  rm -f "$ENV_FILE"
}

case "${1:-up}" in
  up) up ;;
  engine) start_engine ;;
  env) [ -f "$ENV_FILE" ] || die "fixtures are not up (scripts/fixtures.sh up)"; cat "$ENV_FILE" ;;
  down) down ;;
  *) die "usage: $0 up|env|down" ;;
esac
