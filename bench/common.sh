# common.sh — sourced by the bench scripts after setting BENCH (a short
# name): sets ROOT and WORK (a fresh temporary directory, removed at exit
# unless KEEP=1), REG_PID and PROXY_PID (for registry.sh), say, and builds strata and the
# tree generator into $WORK. It needs docker-registry (make tools).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/strata-$BENCH-bench.XXXXXX")
REG_PID=
PROXY_PID=
cleanup() {
  if [ -n "$PROXY_PID" ]; then kill "$PROXY_PID" 2>/dev/null || true; wait "$PROXY_PID" 2>/dev/null || true; fi
  if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
  if [ "${KEEP:-}" != 1 ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT
say() { printf '%s\n' "$*" >&2; }

command -v docker-registry >/dev/null || { say "docker-registry not installed (make tools)"; exit 1; }
say "building strata and the tree generator"
(cd "$ROOT" && go build -trimpath -o "$WORK/strata" ./cmd/strata && go build -o "$WORK/gentree" ./bench/gentree)
