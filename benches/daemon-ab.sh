#!/usr/bin/env bash
# A/B of our daemon under different settings, each side by side with the ceiling, warm SQLite:
#
#   bash benches/daemon-ab.sh DOMAINS SECONDS ROUNDS NAME=COMMAND...
#
# e.g. bash benches/daemon-ab.sh 10000 5 3 "2-workers=env TOKIO_WORKER_THREADS=2 target/release/mta-sts-daemon" \
#          "default=target/release/mta-sts-daemon"
# For each NAME: DOMAINS policies written into a fresh SQLite store by postfix-mta-sts-resolver's
# code (as daemon-bench.sh does), COMMAND started with `-c` on it (cache_grace 3600, the in-process
# tier holding every domain), one warm-up pass, then ROUNDS times, at 10 and at 100 connections,
# SECONDS of the ceiling (socketmap-static) and SECONDS of the daemon. Prints one table row per
# pair, then the daemon's resident memory. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
domains=$1; seconds=$2; rounds=$3; shift 3
venv=${PY_VENV:-target/py-resolver}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'postfix-mta-sts-resolver[sqlite,redis,postgres,uvloop]==1.5.1'
fi
cargo build -q --release -p mta-sts-daemon -p mta-sts-examples -p mta-sts-benches
bin=target/release
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
"$bin/bench-dns" "$domains" > "$work/dns" & pids+=($!)
for _ in $(seq 300); do [ -s "$work/dns" ] && break; sleep 0.1; done
dns_addr=$(cat "$work/dns")
seq -f 'd%.0f.example' 0 $((domains - 1)) > "$work/keys.txt"
"$bin/socketmap-static" 127.0.0.1:18460 > /dev/null & pids+=($!)
wait_port() {
    for _ in $(seq 600); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
    echo "nothing listens on port $1" >&2; return 1
}
wait_port 18460
field() { sed -n "s|.* $1=\([^ ]*\).*|\1|p" | sed 's/ms$//'; }
echo "| daemon | connections | lookups/s | p50 ms | p99 ms | errors | ceiling lookups/s | ceiling p99 ms | share of ceiling |"
echo "|---|---|---|---|---|---|---|---|---|"
port=18470
for variant in "$@"; do
    name=${variant%%=*}; cmd=${variant#*=}
    cat > "$work/$name.prefill" <<YAML
host: 127.0.0.1
port: $port
cache_grace: 3600
dns:
  nameservers: ["$dns_addr"]
cache:
  type: sqlite
  options:
    filename: $work/$name.db
YAML
    cp "$work/$name.prefill" "$work/$name.yml"
    echo "    cache_size: $domains" >> "$work/$name.yml"
    "$venv/bin/python" benches/py/resolver-bench.py prefill "$work/$name.prefill" "$domains"
    $cmd -c "$work/$name.yml" -v warn & pid=$!; pids+=($pid)
    wait_port "$port"
    "$bin/socketmap-load" "127.0.0.1:$port" "$work/keys.txt" 20 once > /dev/null
    for _ in $(seq "$rounds"); do
        for c in 10 100; do
            ceiling=$("$bin/socketmap-load" 127.0.0.1:18460 "$work/keys.txt" "$c" "$seconds")
            result=$("$bin/socketmap-load" "127.0.0.1:$port" "$work/keys.txt" "$c" "$seconds")
            rate=$(field 'lookups/s' <<< "$result"); ceiling_rate=$(field 'lookups/s' <<< "$ceiling")
            echo "| $name | $c | $rate | $(field p50 <<< "$result") | $(field p99 <<< "$result") | $(field errors <<< "$result") | $ceiling_rate | $(field p99 <<< "$ceiling") | $((100 * ${rate:-0} / ${ceiling_rate:-1}))% |"
        done
    done
    echo "$name memory: $(awk '/^VmRSS|^VmHWM/ { printf "%s %.1f MB  ", $1, $2 / 1024 }' "/proc/$pid/status")"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    port=$((port + 1))
done
