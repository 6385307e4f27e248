#!/usr/bin/env bash
# A LiveKit server on loopback, built from its Go module at the version pinned in
# tests/livekit_server/go.mod, for running the examples locally and for the `livekit` tests.
#
#   scripts/livekit-server.sh build             build once (cached per version); print the binary
#   scripts/livekit-server.sh run [opts]        run in the foreground until Ctrl-C
#   scripts/livekit-server.sh start [opts]      start in the background, wait until it serves,
#                                               print `export LIVEKIT_URL=...` lines (for eval)
#   scripts/livekit-server.sh stop --state DIR  stop a server started with `start`
#
# opts: --state DIR (pid, log and env of a background server; default a new temporary folder),
#       --port N (HTTP/WebSocket port; default a free one), --redis HOST:PORT (share rooms and
#       workers with the other nodes on that Redis), --region NAME (this node's region: a room
#       created through this node is placed on a node of its region, when one is available).
# The server runs in dev mode: API key `devkey`, secret `secret`, node IP 127.0.0.1, WebRTC over
# one free UDP port and one free TCP port on loopback. Needs Go >= 1.26 for the first build
# (exit status 3 without it); the binary is kept in
# ${FLOWAGENTS_CACHE:-~/.cache/flowagents}/livekit-server/<version>/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODULE_DIR="$ROOT/tests/livekit_server"
VERSION="$(awk '$1 == "github.com/livekit/livekit-server" {print $2}' "$MODULE_DIR/go.mod")"
CACHE="${FLOWAGENTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flowagents}/livekit-server/$VERSION"
BIN="$CACHE/livekit-server"

die() { echo "livekit-server.sh: $*" >&2; exit "${2:-1}"; }

find_go() {
    if command -v go >/dev/null 2>&1; then command -v go
    elif [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go
    else return 1
    fi
}

build() {
    [ -x "$BIN" ] && return 0
    local go
    go="$(find_go)" || die "no Go toolchain (go >= 1.26) to build livekit-server $VERSION" 3
    mkdir -p "$CACHE"
    (
        flock 9
        if [ ! -x "$BIN" ]; then
            echo "building livekit-server $VERSION (once; a few minutes)..." >&2
            cd "$MODULE_DIR"
            "$go" build -trimpath -o "$BIN.tmp" \
                github.com/livekit/livekit-server/cmd/server
            mv "$BIN.tmp" "$BIN"
        fi
    ) 9>"$CACHE/.build.lock"
}

free_port() {  # $1: tcp or udp
    local py=python3
    [ -x "$ROOT/.venv/bin/python" ] && py="$ROOT/.venv/bin/python"
    "$py" - "$1" <<'EOF'
import socket, sys
kind = socket.SOCK_STREAM if sys.argv[1] == "tcp" else socket.SOCK_DGRAM
with socket.socket(socket.AF_INET, kind) as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
EOF
}

STATE="" PORT="" REDIS="" REGION=""
parse_opts() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --state) STATE="$2"; shift 2 ;;
            --port) PORT="$2"; shift 2 ;;
            --redis) REDIS="$2"; shift 2 ;;
            --region) REGION="$2"; shift 2 ;;
            *) die "unknown option: $1" ;;
        esac
    done
}

server_args() {
    [ -n "$PORT" ] || PORT="$(free_port tcp)"
    local tcp udp
    tcp="$(free_port tcp)"
    udp="$(free_port udp)"
    CONFIG="port: $PORT
rtc:
  tcp_port: $tcp
  udp_port: $udp
  use_external_ip: false
  enable_loopback_candidate: true
logging:
  level: info"
    if [ -n "$REGION" ]; then
        CONFIG="$CONFIG
region: $REGION
node_selector:
  kind: regionaware
  regions:
    - name: $REGION
      lat: 0
      lon: 0"
    fi
    ARGS=(--dev --bind 127.0.0.1 --node-ip 127.0.0.1 --config-body "$CONFIG")
    [ -z "$REDIS" ] || ARGS+=(--redis-host "$REDIS")
    return 0
}

wait_ready() {  # $1: pid
    local i
    for i in $(seq 1 200); do
        if command -v curl >/dev/null 2>&1; then
            curl -fsS "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && return 0
        elif (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            return 0
        fi
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
    build)
        build
        echo "$BIN"
        ;;
    run)
        parse_opts "$@"
        build
        server_args
        echo "LIVEKIT_URL=ws://127.0.0.1:$PORT LIVEKIT_API_KEY=devkey LIVEKIT_API_SECRET=secret" >&2
        exec "$BIN" "${ARGS[@]}"
        ;;
    start)
        parse_opts "$@"
        build
        [ -n "$STATE" ] || STATE="$(mktemp -d -t flowagents-livekit.XXXXXX)"
        mkdir -p "$STATE"
        server_args
        (
            # the server outlives this script: it keeps none of the caller's descriptors
            # (a `flock` lock, a pipe someone reads to its end)
            for fd in $(ls /proc/$BASHPID/fd); do
                [ "$fd" -gt 2 ] && eval "exec $fd>&-"
            done 2>/dev/null
            exec "$BIN" "${ARGS[@]}"
        ) >"$STATE/server.log" 2>&1 &
        pid=$!
        echo "$pid" >"$STATE/pid"
        if ! wait_ready "$pid"; then
            kill "$pid" 2>/dev/null || true
            tail -n 30 "$STATE/server.log" >&2
            die "livekit-server did not start (log: $STATE/server.log)"
        fi
        cat >"$STATE/env" <<EOF
export LIVEKIT_URL=ws://127.0.0.1:$PORT
export LIVEKIT_API_KEY=devkey
export LIVEKIT_API_SECRET=secret
export FLOWAGENTS_LIVEKIT_STATE=$STATE
EOF
        cat "$STATE/env"
        ;;
    stop)
        parse_opts "$@"
        [ -n "$STATE" ] || STATE="${FLOWAGENTS_LIVEKIT_STATE:-}"
        [ -n "$STATE" ] && [ -f "$STATE/pid" ] || die "nothing to stop (give --state DIR)"
        pid="$(cat "$STATE/pid")"
        # the first signal drains (waits for participants to leave), a second one stops at once
        for sig in TERM INT KILL; do
            kill -"$sig" "$pid" 2>/dev/null || break
            for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break 2; sleep 0.1; done
        done
        rm -f "$STATE/pid"
        ;;
    *)
        sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
