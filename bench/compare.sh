#!/usr/bin/env bash
# compare.sh — time `strata build` against `tar cf` + `crane append` on the
# same tree (5,000 files, ~250 MB, text and binary mixed), 5 runs each, and
# report medians, throughput, the ratio, a no-change rebuild (cache hit) and
# peak RSS. Figures are printed, never asserted.
#
# Usage: bash bench/compare.sh            (from the repository root)
# Env:   RUNS (5), FILES (5000), BYTES (262144000), CRANE (path to crane),
#        KEEP=1 keeps the work directory.
set -euo pipefail

RUNS=${RUNS:-5}
FILES=${FILES:-5000}
BYTES=${BYTES:-262144000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/strata-bench.XXXXXX")
cleanup() { if [ "${KEEP:-}" != 1 ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi; }
trap cleanup EXIT

say() { printf '%s\n' "$*" >&2; }

say "building strata and the tree generator"
(cd "$ROOT" && go build -trimpath -o "$WORK/strata" ./cmd/strata && go build -o "$WORK/gentree" ./bench/gentree)

CRANE=${CRANE:-$(command -v crane || true)}
if [ -z "$CRANE" ]; then
  say "installing crane v0.22.1"
  GOBIN="$WORK/bin" go install github.com/google/go-containerregistry/cmd/crane@v0.22.1
  CRANE="$WORK/bin/crane"
fi

say "generating $FILES files (~$((BYTES / 1048576)) MiB)"
mkdir -p "$WORK/ctx"
"$WORK/gentree" -files "$FILES" -bytes "$BYTES" "$WORK/ctx/tree"
TREE_BYTES=$(du -sb "$WORK/ctx/tree" | cut -f1)
cat > "$WORK/ctx/image.yaml" <<'YAML'
base: scratch
layers:
  - name: tree
    files:
      - src: tree
        dest: /data/
YAML

# measure LABEL CMD... — runs CMD under /usr/bin/time (or bash's own timer),
# appends "seconds maxrss_kib" to $WORK/LABEL.times.
measure() {
  local label=$1; shift
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f '%e %M' -o "$WORK/t.out" "$@" >/dev/null 2>"$WORK/err.out" || { cat "$WORK/err.out" >&2; exit 1; }
    cat "$WORK/t.out" >> "$WORK/$label.times"
  else
    local s e
    s=$(date +%s.%N)
    "$@" >/dev/null 2>"$WORK/err.out" || { cat "$WORK/err.out" >&2; exit 1; }
    e=$(date +%s.%N)
    echo "$(echo "$e - $s" | bc) 0" >> "$WORK/$label.times"
  fi
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

for i in $(seq "$RUNS"); do
  say "run $i/$RUNS: strata build (empty cache)"
  rm -rf "$WORK/cache" "$WORK/oci"
  sync
  measure strata "$WORK/strata" build --cache-dir "$WORK/cache" --oci "$WORK/oci" "$WORK/ctx/image.yaml"
  say "run $i/$RUNS: tar cf + crane append"
  rm -f "$WORK/tree.tar" "$WORK/crane.tar"
  sync
  measure crane bash -c "tar cf '$WORK/tree.tar' -C '$WORK/ctx' tree && '$CRANE' append -f '$WORK/tree.tar' --oci-empty-base -t bench.local/tree:latest -o '$WORK/crane.tar'"
done
for i in $(seq "$RUNS"); do
  say "run $i/$RUNS: strata build, no change (warm cache)"
  measure rebuild "$WORK/strata" build --cache-dir "$WORK/cache" --oci "$WORK/oci" "$WORK/ctx/image.yaml"
done

S=$(cut -d' ' -f1 "$WORK/strata.times" | median)
C=$(cut -d' ' -f1 "$WORK/crane.times" | median)
R=$(cut -d' ' -f1 "$WORK/rebuild.times" | median)
SRSS=$(cut -d' ' -f2 "$WORK/strata.times" | sort -n | tail -1)
CRSS=$(cut -d' ' -f2 "$WORK/crane.times" | sort -n | tail -1)
RRSS=$(cut -d' ' -f2 "$WORK/rebuild.times" | sort -n | tail -1)
MB=$(awk -v b="$TREE_BYTES" 'BEGIN {printf "%.1f", b/1e6}')
DIGEST=$("$WORK/strata" build --cache-dir "$WORK/cache" --oci "$WORK/oci" "$WORK/ctx/image.yaml" 2>/dev/null)

echo "tree: $FILES files, $MB MB; $RUNS runs each; $(nproc) CPUs; $(go version | cut -d' ' -f3)"
awk -v s="$S" -v c="$C" -v r="$R" -v mb="$MB" -v srss="$SRSS" -v crss="$CRSS" -v rrss="$RRSS" 'BEGIN {
  printf "strata build (cold cache):  median %6.2f s  %7.1f MB/s  peak RSS %6.1f MiB\n", s, mb/s, srss/1024
  printf "tar + crane append:         median %6.2f s  %7.1f MB/s  peak RSS %6.1f MiB (crane or tar)\n", c, mb/c, crss/1024
  printf "strata rebuild (no change): median %6.2f s                peak RSS %6.1f MiB\n", r, rrss/1024
  printf "ratio strata/crane: %.2f (target <= 0.50); targets: >= 300 MB/s, RSS <= 64 MiB\n", s/c
}'
echo "strata digest: $DIGEST"
