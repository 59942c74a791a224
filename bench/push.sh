#!/usr/bin/env bash
# push.sh — time `strata push` against `crane append` on a local
# docker-registry (distribution 2.8): a static-site-like tree (5,001 files,
# ~250 MB, text and binary mixed) on a ~50 MB base, pushed cold (new
# repository) and again (no change); then 20 services x 10 MB on the same base
# in one strata call against 20 crane processes in parallel. Figures are
# printed, never asserted.
#
# Usage: bash bench/push.sh            (from the repository root)
# Env:   RUNS (3), CRANE (path to crane, else installed), KEEP=1 keeps the
#        work directory. Needs docker-registry (make tools) and bench/gentree.
set -euo pipefail

RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/strata-push-bench.XXXXXX")
REG_PID=
cleanup() {
  if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
  if [ "${KEEP:-}" != 1 ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT
say() { printf '%s\n' "$*" >&2; }

command -v docker-registry >/dev/null || { say "docker-registry not installed (make tools)"; exit 1; }
say "building strata and the tree generator"
(cd "$ROOT" && go build -trimpath -o "$WORK/strata" ./cmd/strata && go build -o "$WORK/gentree" ./bench/gentree)
CRANE=${CRANE:-$(command -v crane || true)}
if [ -z "$CRANE" ]; then
  say "installing crane v0.22.1"
  GOBIN="$WORK/bin" go install github.com/google/go-containerregistry/cmd/crane@v0.22.1
  CRANE="$WORK/bin/crane"
fi
STRATA="$WORK/strata"

# A private docker-registry on a free loopback port, deletes enabled.
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
R=127.0.0.1:$PORT
mkdir -p "$WORK/registry"
cat > "$WORK/registry/config.yml" <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/registry/storage
  delete:
    enabled: true
http:
  addr: $R
  secret: bench
YAML
docker-registry serve "$WORK/registry/config.yml" > "$WORK/registry/log" 2>&1 &
REG_PID=$!
for _ in $(seq 100); do curl -fsS -o /dev/null "http://$R/v2/" 2>/dev/null && break; sleep 0.1; done
export DOCKER_CONFIG="$WORK/docker" XDG_CACHE_HOME="$WORK/xdg-cache"
mkdir -p "$DOCKER_CONFIG"

say "generating the base (~50 MB), the site (5,001 files, ~250 MB) and 20 services (10 MB each)"
mkdir -p "$WORK/ctx"
"$WORK/gentree" -files 400 -bytes 52428800 -seed 7 "$WORK/ctx/base"
"$WORK/gentree" -files 5000 -bytes 262144000 -seed 1 "$WORK/ctx/site"
printf '<!doctype html><title>bench</title>\n' > "$WORK/ctx/site/index.html"
for i in $(seq -w 1 20); do "$WORK/gentree" -files 50 -bytes 10485760 -seed "$((10#$i + 100))" "$WORK/ctx/svc$i"; done
SITE_BYTES=$(du -sb "$WORK/ctx/site" | cut -f1)

cat > "$WORK/ctx/base.yaml" <<YAML
base: scratch
layers:
  - name: base
    files:
      - src: base/**
        dest: /opt/base/
image: $R/bench/base
tags: ["1"]
YAML
"$STRATA" push --cache-dir "$WORK/basecache" "$WORK/ctx/base.yaml" >/dev/null 2>&1
cat > "$WORK/ctx/site.yaml" <<YAML
base: $R/bench/base:1
layers:
  - name: site
    files:
      - src: site/**
        dest: /srv/www/
YAML
for i in $(seq -w 1 20); do
  cat > "$WORK/ctx/svc$i.yaml" <<YAML
base: $R/bench/base:1
layers:
  - name: app
    files:
      - src: svc$i/**
        dest: /app/
image: $R/bench/\${RUN}svc$i
tags: [v1]
YAML
done

# measure LABEL CMD... — appends "seconds maxrss_kib" to $WORK/LABEL.times.
measure() {
  local label=$1; shift
  /usr/bin/time -f '%e %M' -o "$WORK/t.out" "$@" >/dev/null 2>"$WORK/err.out" || { cat "$WORK/err.out" >&2; exit 1; }
  cat "$WORK/t.out" >> "$WORK/$label.times"
  # strata prints how long the push phase (after the build) took.
  sed -n 's/.*pushed in \([0-9.]*\) s$/\1/p' "$WORK/err.out" >> "$WORK/$label.push"
}
pmed() { median < "$WORK/$1.push"; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
med() { cut -d' ' -f1 "$WORK/$1.times" | median; }
rss() { cut -d' ' -f2 "$WORK/$1.times" | sort -n | tail -1 | awk '{printf "%.1f", $1/1024}'; }

tar -C "$WORK/ctx/site" -cf "$WORK/site.tar" .
for i in $(seq "$RUNS"); do
  say "run $i/$RUNS: strata push, empty layer cache, new repository (build + push)"
  rm -rf "$WORK/cache"
  measure coldbuild "$STRATA" push --cache-dir "$WORK/cache" --tag "$R/bench/site-build$i:v1" "$WORK/ctx/site.yaml"
  say "run $i/$RUNS: strata push, layers cached, new repository (push only)"
  measure cold "$STRATA" push --cache-dir "$WORK/cache" --tag "$R/bench/site-cold$i:v1" "$WORK/ctx/site.yaml"
  say "run $i/$RUNS: strata push again, no change"
  measure noop "$STRATA" push --cache-dir "$WORK/cache" --tag "$R/bench/site-cold$i:v1" "$WORK/ctx/site.yaml"
  say "run $i/$RUNS: crane append, new repository"
  measure crane "$CRANE" append -f "$WORK/site.tar" -b "$R/bench/base:1" -t "$R/bench/crane$i:v1"
  say "run $i/$RUNS: crane append again, no change"
  measure cranenoop "$CRANE" append -f "$WORK/site.tar" -b "$R/bench/base:1" -t "$R/bench/crane$i:v1"
done

say "20 services x 10 MB"
rm -rf "$WORK/cache20"
measure svc20build "$STRATA" push --cache-dir "$WORK/cache20" --set RUN=w "$WORK"/ctx/svc*.yaml
measure svc20 "$STRATA" push --cache-dir "$WORK/cache20" --set RUN=c "$WORK"/ctx/svc*.yaml
for i in $(seq -w 1 20); do tar -C "$WORK/ctx/svc$i" -cf "$WORK/svc$i.tar" .; done
crane20() {
  local pids=()
  for i in $(seq -w 1 20); do
    "$CRANE" append -f "$WORK/svc$i.tar" -b "$R/bench/base:1" -t "$R/bench/crane-svc$i:v1" >/dev/null 2>&1 & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
}
s=$(date +%s.%N); crane20; e=$(date +%s.%N)
CRANE20=$(awk -v s="$s" -v e="$e" 'BEGIN {printf "%.2f", e-s}')

MB=$(awk -v b="$SITE_BYTES" 'BEGIN {printf "%.1f", b/1e6}')
echo "site: 5,001 files, $MB MB on a ~50 MB base; $RUNS runs each (medians); $(nproc) CPUs; $(go version | cut -d' ' -f3); docker-registry $(docker-registry --version 2>/dev/null | awk '{print $3}')"
echo "(wall = the whole command, build included; push = the push phase strata reports)"
printf 'strata push, empty layer cache:       wall %6.2f s  push %6.3f s  peak RSS %6s MiB\n' "$(med coldbuild)" "$(pmed coldbuild)" "$(rss coldbuild)"
printf 'strata push, layers cached, new repo: wall %6.2f s  push %6.3f s  peak RSS %6s MiB  (targets: 0.6 s, 64 MiB)\n' "$(med cold)" "$(pmed cold)" "$(rss cold)"
printf 'strata push, no change:               wall %6.2f s  push %6.3f s  peak RSS %6s MiB  (target: 0.2 s)\n' "$(med noop)" "$(pmed noop)" "$(rss noop)"
printf 'crane append, new repo:               wall %6.2f s  peak RSS %6s MiB\n' "$(med crane)" "$(rss crane)"
printf 'crane append, no change:              wall %6.2f s  peak RSS %6s MiB\n' "$(med cranenoop)" "$(rss cranenoop)"
printf '20 services x 10 MB, one strata push: wall %6.2f s  push %6.3f s  peak RSS %6s MiB  (empty layer cache)\n' "$(med svc20build)" "$(pmed svc20build)" "$(rss svc20build)"
printf '20 services x 10 MB, one strata push: wall %6.2f s  push %6.3f s  peak RSS %6s MiB  (layers cached, new repos; target 1.2 s)\n' "$(med svc20)" "$(pmed svc20)" "$(rss svc20)"
printf '20 services x 10 MB, 20 crane append: wall %6.2f s  (20 processes in parallel)\n' "$CRANE20"
