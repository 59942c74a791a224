# registry.sh — sourced by the bench scripts: starts a private
# docker-registry (distribution 2.8, deletes enabled) on a free loopback
# port under $WORK/registry, and sets R (its host:port) and REG_PID. The
# caller stops it (kill "$REG_PID"). With LATENCY_MS=N, R is instead a
# bench/delayproxy in front of it that holds every chunk N ms each way (a
# registry 2N ms away; PROXY_PID), so that round trips count as they do
# against a registry elsewhere; HANDSHAKE_RTTS=2 (default 0) also makes each
# new connection wait two round trips, as TCP and TLS 1.3 handshakes to an
# HTTPS registry do.
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
if [ -n "${LATENCY_MS:-}" ]; then
  (cd "$ROOT" && go build -o "$WORK/delayproxy" ./bench/delayproxy)
  PPORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  "$WORK/delayproxy" -listen "127.0.0.1:$PPORT" -to "$R" -delay "${LATENCY_MS}ms" -handshake "${HANDSHAKE_RTTS:-0}" 2>"$WORK/registry/proxy.log" &
  PROXY_PID=$!
  R=127.0.0.1:$PPORT
  for _ in $(seq 100); do curl -fsS -o /dev/null "http://$R/v2/" 2>/dev/null && break; sleep 0.1; done
fi
