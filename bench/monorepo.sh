#!/usr/bin/env bash
# monorepo.sh — the monorepo figures of issue 12: a generated monorepo of
# 200 services (one image.yaml each, two layers: an app tree of 1 KB to 20 MB
# and a small config file; about 1 GB in all) pushed with one
# `strata push ./...` to a local docker-registry (distribution 2.8), cold;
# then, on a fresh runner (empty layer cache), one service's config file
# changed and `strata push ./...` again. The fresh run should compress and
# upload only that service's changed layer (plus its config and manifest),
# report the other 199 as reused from the registry, and take at most 0.1x the
# cold time. Each run pushes to new repositories (run<N>/svc<i>), so every
# cold push is really cold. Figures are printed, never asserted; nothing
# generated is kept (KEEP=1 keeps the work directory).
#
# Usage: bash bench/monorepo.sh        (from the repository root)
# Env:   RUNS (3), SERVICES (200), CHANGED (the service whose config file
#        changes; default the middle one, svc100: ~90 KB; svc101 is ~15 MB), KEEP=1. Needs docker-registry (make
#        tools), python3 and /usr/bin/time.
set -euo pipefail

RUNS=${RUNS:-3}
SERVICES=${SERVICES:-200}
BENCH=monorepo
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
STRATA="$WORK/strata"

# A private docker-registry on a free loopback port (sets R, REG_PID).
. "$(dirname "${BASH_SOURCE[0]}")/registry.sh"
export DOCKER_CONFIG="$WORK/docker" XDG_CACHE_HOME="$WORK/xdg-cache" XDG_DATA_HOME="$WORK/xdg-data"
mkdir -p "$DOCKER_CONFIG"

# Sizes: every fourth service 15-20 MB, the others spread geometrically
# from 1 KB to 8 MB; deterministic, so every run and machine gets the same
# monorepo.
say "generating $SERVICES services"
REPO="$WORK/repo"
mkdir -p "$REPO"
printf '# generated services only\n' > "$REPO/README.md"
python3 - "$SERVICES" > "$WORK/sizes" <<'PY'
import sys
n = int(sys.argv[1]); small = [i for i in range(n) if i % 4]
for i in range(n):
    if i % 4 == 0:
        print(15_000_000 + (i * 7919) % 5_000_001)
    else:
        k = small.index(i)
        print(int(1000 * (8000 ** (k / max(1, len(small) - 1)))))
PY
i=0
while read -r size; do
  i=$((i + 1)); s=$(printf 'svc%03d' "$i")
  files=$(( size / 200000 )); [ "$files" -lt 2 ] && files=2; [ "$files" -gt 60 ] && files=60
  "$WORK/gentree" -files "$files" -bytes "$size" -seed "$i" "$REPO/services/$s/app"
  mkdir -p "$REPO/services/$s/conf"
  printf 'name = %s\nport = 8080\n' "$s" > "$REPO/services/$s/conf/app.conf"
  cat > "$REPO/services/$s/image.yaml" <<YAML
base: scratch
layers:
  - name: app
    files:
      - src: app/**
        dest: /srv/app/
  - name: conf
    files:
      - src: conf/app.conf
        dest: /etc/app.conf
config:
  entrypoint: [/srv/app/run]
image: $R/\${RUN}/$s
tags: [v1]
YAML
done < "$WORK/sizes"
TOTAL=$(du -sb "$REPO/services" | cut -f1)
CHANGED=${CHANGED:-svc$(printf '%03d' $(( SERVICES / 2 )))}

# run LABEL CMD... — appends "seconds maxrss_kib" to LABEL.times and keeps
# the --json report as LABEL.<n>.json.
run() {
  local label=$1; shift
  local n=1
  if [ -f "$WORK/$label.times" ]; then n=$(( $(wc -l < "$WORK/$label.times") + 1 )); fi
  (cd "$REPO" && /usr/bin/time -f '%e %M' -o "$WORK/t.out" "$@" >"$WORK/$label.$n.json" 2>"$WORK/err.out") || { cat "$WORK/err.out" >&2; exit 1; }
  cat "$WORK/t.out" >> "$WORK/$label.times"
}
# regbytes: the bytes of the registry's files (blobs, manifests, link
# files), directories not counted.
regbytes() { mkdir -p "$WORK/registry/storage"; find "$WORK/registry/storage" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}'; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
med() { cut -d' ' -f1 "$WORK/$1.times" | median; }
rss() { cut -d' ' -f2 "$WORK/$1.times" | sort -n | tail -1 | awk '{printf "%.1f", $1/1024}'; }
# summary FILE — sources, bytes compressed and uploaded from a --json report.
summary() {
  python3 - "$1" <<'PY'
import json, sys, collections
r = json.load(open(sys.argv[1]))
src = collections.Counter(i["source"] for i in r["images"])
comp = sum(i["bytesCompressed"] for i in r["images"])
read = sum(i["bytesRead"] for i in r["images"])
built = [i["spec"] for i in r["images"] if i["source"] == "built"]
up = sum(i.get("bytesUploaded", 0) for i in r["images"])
print("sources %s; read %.1f MB; compressed %d B; uploaded %d B in %d blobs (per-image sum %d B); built: %s" % (
    dict(sorted(src.items())), read / 1e6, comp, r["bytesUploaded"], r["blobsUploaded"], up, " ".join(built[:5]) + (" ..." if len(built) > 5 else "") or "-"))
PY
}

for r in $(seq "$RUNS"); do
  say "run $r/$RUNS: cold push of $SERVICES services (empty layer cache, new repositories)"
  rm -rf "$WORK/cache"
  before=$(regbytes)
  run cold "$STRATA" push --json --cache-dir "$WORK/cache" --set RUN="run$r" ./...
  echo "$(( $(regbytes) - before ))" >> "$WORK/cold.reg"
  rm -rf "$WORK/cache"

  say "run $r/$RUNS: $CHANGED's config changed; fresh runner (empty layer cache)"
  printf 'change = %s\n' "$r" >> "$REPO/services/$CHANGED/conf/app.conf"
  before=$(regbytes)
  run fresh "$STRATA" push --json --cache-dir "$WORK/cache" --set RUN="run$r" ./...
  echo "$(( $(regbytes) - before ))" >> "$WORK/fresh.reg"
  rm -rf "$WORK/cache"
done

COLD=$(med cold); FRESH=$(med fresh)
echo "changed service: $CHANGED ($(du -sb "$REPO/services/$CHANGED" | cut -f1) bytes)"
echo "monorepo: $SERVICES services, $(awk -v b="$TOTAL" 'BEGIN {printf "%.1f", b/1e6}') MB; $RUNS runs each (medians); $(nproc) CPUs; $(go version | cut -d' ' -f3); docker-registry $(docker-registry --version 2>/dev/null | awk '{print $3}')"
printf 'cold push (empty cache, new repos):        wall %7.2f s  peak RSS %7s MiB\n' "$COLD" "$(rss cold)"
printf 'fresh runner, one service changed:         wall %7.2f s  peak RSS %7s MiB\n' "$FRESH" "$(rss fresh)"
awk -v c="$COLD" -v f="$FRESH" 'BEGIN {printf "ratio fresh/cold: %.3f (target <= 0.100: %s)\n", f/c, (f <= 0.1*c) ? "met" : "missed"}'
for r in $(seq "$RUNS"); do
  echo "run $r cold:  $(summary "$WORK/cold.$r.json"); registry grew $(sed -n "${r}p" "$WORK/cold.reg") B"
  echo "run $r fresh: $(summary "$WORK/fresh.$r.json"); registry grew $(sed -n "${r}p" "$WORK/fresh.reg") B"
done
