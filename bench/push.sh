#!/usr/bin/env bash
# push.sh — time `strata push` side by side with the fastest crane recipe
# for each workload, on a local docker-registry (distribution 2.8), the
# workloads of issue 9 (medians of RUNS, strata with an empty cache unless
# said otherwise):
#   site     static site (5,001 files, ~250 MB) on a ~50 MB base: cold build +
#            push, no-op re-push, and with split: auto one changed file;
#            peer: tar | crane append -f - (streaming)
#   big      one 1 GiB file (512 MiB random + 512 MiB text), cold; peer: the same
#   binary   a ~17 MB Go binary (crane itself) on the base, cold (a new
#            repository), and a fresh runner's push of the next build to the
#            repository an earlier runner pushed to; peer: crane append
#   svc20    20 services x 10 MB in one strata push, cold; peer: 20 crane
#            append processes, two at a time
# Figures (wall medians, ratios, peak RSS, bytes uploaded from --json) are
# printed, never asserted.
#
# Usage: bash bench/push.sh            (from the repository root)
# Env:   RUNS (3), CRANE (path to crane, else installed), SKIP_BIG=1 skips the
#        1 GiB case, KEEP=1 keeps the work directory, LATENCY_MS=N puts the
#        registry N ms away each way (bench/delayproxy; the CPU floors then
#        leave the round trips out), and HANDSHAKE_RTTS=2 with it makes each
#        new connection wait two round trips (TCP and TLS, as to an HTTPS
#        registry). Needs docker-registry (make tools) and bench/gentree.
set -euo pipefail

RUNS=${RUNS:-3}
BENCH=push
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
CRANE=${CRANE:-$(command -v crane || true)}
if [ -z "$CRANE" ]; then
  say "installing crane v0.22.1"
  GOBIN="$WORK/bin" go install github.com/google/go-containerregistry/cmd/crane@v0.22.1
  CRANE="$WORK/bin/crane"
fi
STRATA="$WORK/strata"

# A private docker-registry on a free loopback port (sets R, REG_PID).
. "$(dirname "${BASH_SOURCE[0]}")/registry.sh"
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
cat > "$WORK/ctx/split.yaml" <<YAML
base: $R/bench/base:1
layers:
  - name: site
    split: auto
    files:
      - src: split/**
        dest: /srv/www/
YAML
cp -r "$WORK/ctx/site" "$WORK/ctx/split"
cp "$CRANE" "$WORK/ctx/app" && chmod 755 "$WORK/ctx/app"
mkdir -p "$WORK/ctx/next"
cp "$CRANE" "$WORK/ctx/next/app" && chmod 755 "$WORK/ctx/next/app"
cat > "$WORK/ctx/next.yaml" <<YAML
base: $R/bench/base:1
layers:
  - name: app
    files:
      - {src: next/app, dest: /usr/local/bin/app}
YAML
cat > "$WORK/ctx/binary.yaml" <<YAML
base: $R/bench/base:1
layers:
  - name: app
    files:
      - {src: app, dest: /usr/local/bin/app}
YAML
mkdir -p "$WORK/ctx/bigdir"
if [ "${SKIP_BIG:-}" != 1 ]; then
  # (yes dies of SIGPIPE when head has enough: not an error under pipefail)
  { head -c 536870912 /dev/urandom; { yes 'lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod' || true; } | head -c 536870912; } > "$WORK/ctx/bigdir/big.bin"
fi
cat > "$WORK/ctx/big.yaml" <<YAML
base: scratch
layers:
  - name: big
    files:
      - {src: bigdir/big.bin, dest: /data/big.bin}
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

# median of a time list; wall median of a label; peak RSS (MiB) of a label.
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
med() { cut -d' ' -f1 "$WORK/$1.times" | median; }
rss() { cut -d' ' -f2 "$WORK/$1.times" | sort -n | tail -1 | awk '{printf "%.1f", $1/1024}'; }
ratio() { awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN {printf "%.2f", a/b}'; }
# regcpu — the registry's user+system CPU seconds so far.
regcpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14+$15)/hz}' "/proc/$REG_PID/stat"; }
# measure LABEL CMD... — appends "seconds maxrss_kib cpu_seconds
# registry_cpu_seconds" to $WORK/LABEL.times (cpu: the command and its
# children, user+system; registry: what docker-registry spent meanwhile)
# and keeps stdout in $WORK/LABEL.out.
measure() {
  local label=$1 r0; shift
  r0=$(regcpu)
  /usr/bin/time -f '%e %M %U %S' -o "$WORK/t.out" "$@" >"$WORK/$label.out" 2>"$WORK/err.out" || { cat "$WORK/err.out" >&2; exit 1; }
  awk -v r0="$r0" -v r1="$(regcpu)" '{printf "%s %s %.2f %.2f\n", $1, $2, $3+$4, r1-r0}' "$WORK/t.out" >> "$WORK/$label.times"
}
# cpu LABEL — "strata-or-peer CPU-s + registry CPU-s" medians of a label.
cpu() { printf '%s + %s' "$(cut -d' ' -f3 "$WORK/$1.times" | median)" "$(cut -d' ' -f4 "$WORK/$1.times" | median)"; }
# cpufloor LABEL PEER — the wall time the CPU alone needs: (client +
# registry CPU-s) / cores, and its ratio to the peer's wall time.
cpufloor() {
  local c r
  c=$(cut -d' ' -f3 "$WORK/$1.times" | median); r=$(cut -d' ' -f4 "$WORK/$1.times" | median)
  awk -v c="$c" -v r="$r" -v n="$(nproc)" -v p="$(med "$2")" -v pc="$(cpu "$2")" \
    'BEGIN {f=(c+r)/n; printf "  CPU-s: strata %.2f + registry %.2f; peer %s. On %d cores the CPU alone needs %.2f s = %.2f of the peer\n", c, r, pc, n, f, f/p}'
}
# jsonsum FILE KEY — the top-level number KEY of a push --json report.
jsonsum() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
# splitbytes FILE — "uploaded_bytes of layer_bytes" over the split layer's parts.
splitbytes() { python3 -c '
import json,sys
r=json.load(open(sys.argv[1])); ls=r["images"][0]["layers"]
print(sum(l["bytesUploaded"] for l in ls), sum(l["size"] for l in ls), len(ls))' "$1"; }
# floor LABEL CACHEDIR — the registry's own floor: the blobs strata stored
# in CACHEDIR (its layers, already compressed) uploaded again with curl to
# new repositories (POST, one PATCH with Content-Length, PUT ?digest=), two
# at a time. Nothing is compressed, hashed or read from a context: a client
# can hardly put those bytes into this registry faster. Appends "seconds 0"
# to $WORK/LABEL.times.
upload1() { # upload1 BLOBFILE REPO
  local loc
  loc=$(curl -fsS -D - -o /dev/null -X POST "http://$R/v2/$2/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location" {print $2}')
  case $loc in http*) ;; *) loc="http://$R$loc" ;; esac
  loc=$(curl -fsS -D - -o /dev/null -X PATCH -H 'Content-Type: application/octet-stream' -T "$1" "$loc" | tr -d '\r' | awk -F': ' 'tolower($1)=="location" {print $2}')
  case $loc in http*) ;; *) loc="http://$R$loc" ;; esac
  case $loc in *\?*) loc="$loc&" ;; *) loc="$loc?" ;; esac
  curl -fsS -o /dev/null -X PUT "${loc}digest=sha256:$(basename "$1")"
}
export -f upload1
export R
floor() {
  local label=$1 dir=$2 t0 t1
  t0=$(date +%s.%N)
  find "$dir/blobs/sha256" -type f -size +1k | xargs -P 2 -I{} bash -c 'upload1 "$1" "bench/floor$RANDOM$RANDOM"' _ {}
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f 0 0 0\n", b-a}' >> "$WORK/$label.times"
}
# cstream DIR TAG — the peer: tar streamed into crane append on the base.
cat > "$WORK/cstream" <<SH
#!/usr/bin/env bash
set -euo pipefail
tar -C "\$1" -cf - . | "$CRANE" append -f - -b "$R/bench/base:1" -t "\$2" >/dev/null
SH
chmod +x "$WORK/cstream"
cstream="$WORK/cstream"

for i in $(seq "$RUNS"); do
  say "run $i/$RUNS: site"
  rm -rf "$WORK/cache"
  measure sitecold "$STRATA" push --cache-dir "$WORK/cache" --tag "$R/bench/site$i:v1" "$WORK/ctx/site.yaml"
  measure sitenoop "$STRATA" push --cache-dir "$WORK/cache" --tag "$R/bench/site$i:v1" "$WORK/ctx/site.yaml"
  floor sitefloor "$WORK/cache"
  # the same cold push without the SBOM and provenance crane does not make
  rm -rf "$WORK/cache"
  measure sitebare "$STRATA" push --sbom=false --provenance=false --cache-dir "$WORK/cache" --tag "$R/bench/sitebare$i:v1" "$WORK/ctx/site.yaml"
  measure cranecold "$cstream" "$WORK/ctx/site" "$R/bench/cranes$i:v1"
  measure cranenoop "$cstream" "$WORK/ctx/site" "$R/bench/cranes$i:v1"

  say "run $i/$RUNS: site, split: auto, one file changed"
  rm -rf "$WORK/cachesplit"
  "$STRATA" push --cache-dir "$WORK/cachesplit" --tag "$R/bench/split$i:v1" "$WORK/ctx/split.yaml" >/dev/null 2>&1
  f=$(find "$WORK/ctx/split" -type f -name '*' | sort | sed -n 2500p)
  printf 'edit %s\n' "$i" >> "$f"
  measure splitone "$STRATA" push --json --cache-dir "$WORK/cachesplit" --tag "$R/bench/split$i:v1" "$WORK/ctx/split.yaml"
  splitbytes "$WORK/splitone.out" >> "$WORK/splitone.bytes"
  measure craneone "$cstream" "$WORK/ctx/split" "$R/bench/cranes$i:v1"

  say "run $i/$RUNS: binary"
  rm -rf "$WORK/cachebin"
  measure bin "$STRATA" push --cache-dir "$WORK/cachebin" --tag "$R/bench/bin$i:v1" "$WORK/ctx/binary.yaml"
  floor binfloor "$WORK/cachebin"
  # the base check only when the spec removes (the base is not downloaded)
  rm -rf "$WORK/cachebin"
  measure binrm "$STRATA" push --base-check removals --cache-dir "$WORK/cachebin" --tag "$R/bench/binrm$i:v1" "$WORK/ctx/binary.yaml"
  # A fresh CI runner pushing the next build of the service: its
  # repository exists (an earlier runner pushed there), the local cache is
  # empty, the binary changed.
  rm -rf "$WORK/cachebin"
  "$STRATA" push --cache-dir "$WORK/cachebin" --tag "$R/bench/binnext$i:v0" "$WORK/ctx/next.yaml" >/dev/null 2>&1
  printf 'build %s\n' "$i" >> "$WORK/ctx/next/app"
  rm -rf "$WORK/cachebin"
  measure binnext "$STRATA" push --cache-dir "$WORK/cachebin" --tag "$R/bench/binnext$i:v1" "$WORK/ctx/next.yaml"
  tar -C "$WORK/ctx" -cf "$WORK/app.tar" app
  measure cranebin "$CRANE" append -f "$WORK/app.tar" -b "$R/bench/base:1" -t "$R/bench/cranebin$i:v1"

  if [ "${SKIP_BIG:-}" != 1 ]; then
    say "run $i/$RUNS: 1 GiB file"
    rm -rf "$WORK/cachebig"
    measure big "$STRATA" push --cache-dir "$WORK/cachebig" --tag "$R/bench/big$i:v1" "$WORK/ctx/big.yaml"
    floor bigfloor "$WORK/cachebig"
    measure cranebig bash -c "tar -C '$WORK/ctx/bigdir' -cf - . | '$CRANE' append -f - -t '$R/bench/cranebig$i:v1' >/dev/null"
  fi

  say "run $i/$RUNS: 20 services"
  rm -rf "$WORK/cache20"
  measure svc20 "$STRATA" push --cache-dir "$WORK/cache20" --set RUN="r$i" "$WORK"/ctx/svc*.yaml
  floor svc20floor "$WORK/cache20"
  for k in $(seq -w 1 20); do tar -C "$WORK/ctx/svc$k" -cf "$WORK/svc$k.tar" .; done
  measure crane20 bash -c "for k in \$(seq -w 1 20); do echo \$k; done | xargs -P 2 -I{} '$CRANE' append -f '$WORK/svc{}.tar' -b '$R/bench/base:1' -t '$R/bench/crane$i-svc{}:v1'"
  # one service changed
  printf 'edit %s\n' "$i" >> "$(find "$WORK/ctx/svc07" -type f | sort | sed -n 1p)"
  measure svc20one "$STRATA" push --cache-dir "$WORK/cache20" --set RUN="r$i" "$WORK"/ctx/svc*.yaml
done

MB=$(awk -v b="$SITE_BYTES" 'BEGIN {printf "%.1f", b/1e6}')
if [ -n "${LATENCY_MS:-}" ]; then echo "registry behind bench/delayproxy: ${LATENCY_MS} ms each way (round trip $((2 * LATENCY_MS)) ms); a new connection waits ${HANDSHAKE_RTTS:-0} round trips"; fi
echo "site: 5,001 files, $MB MB on a ~50 MB base; $RUNS runs each (medians); $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg); $(go version | cut -d' ' -f3); docker-registry $(docker-registry --version 2>/dev/null | awk '{print $3}')"
echo "(wall seconds, whole command; ratio = strata / peer, the issue's goals in brackets)"
row() { printf '%-44s strata %6.2f s  %7s MiB | peer %6.2f s  %7s MiB | ratio %s  (goal %s)\n' "$1" "$(med "$2")" "$(rss "$2")" "$(med "$3")" "$(rss "$3")" "$(ratio "$2" "$3")" "$4"; }
floorrow() { printf '  registry floor (its layers uploaded again with curl): %.2f s = %.2f of the peer\n' "$(med "$1")" "$(ratio "$1" "$2")"; }
row "site, cold build + push (empty cache)"    sitecold  cranecold "<= 0.45, RSS <= 64 MiB"
floorrow sitefloor cranecold
cpufloor sitecold cranecold
row "  same, --sbom=false --provenance=false"    sitebare  cranecold "(for comparison)"
row "site, no-op re-push"                      sitenoop  cranenoop "<= 0.15"
row "site split: auto, one file changed"       splitone  craneone  "<= 0.30"
median_bytes=$(awk '{print $1}' "$WORK/splitone.bytes" | median)
awk -v u="$median_bytes" -v l="$(tail -1 "$WORK/splitone.bytes" | awk '{print $2}')" -v n="$(tail -1 "$WORK/splitone.bytes" | awk '{print $3}')" \
  'BEGIN {printf "  uploaded %.1f MB of the %.1f MB layer (%d parts): %.1f %%  (goal <= 10 %%)\n", u/1e6, l/1e6, n, 100*u/l}'
row "binary (~17 MB) on the base, empty cache" bin       cranebin  "<= 0.60"
floorrow binfloor cranebin
cpufloor bin cranebin
row "  same, --base-check removals"            binrm     cranebin  "(for comparison)"
row "  fresh runner, next build, repo exists"   binnext   cranebin  "<= 0.60"
cpufloor binnext cranebin
if [ "${SKIP_BIG:-}" != 1 ]; then
row "1 GiB file, cold"                         big       cranebig  "<= 0.60, RSS <= 64 MiB"
floorrow bigfloor cranebig
cpufloor big cranebig
fi
row "20 services x 10 MB, cold, one call"      svc20     crane20   "<= 0.30, RSS <= 64 MiB"
floorrow svc20floor crane20
cpufloor svc20 crane20
printf '%-44s strata %6.2f s  %7s MiB\n' "20 services, one changed" "$(med svc20one)" "$(rss svc20one)"
