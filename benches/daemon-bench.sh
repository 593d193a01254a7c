#!/usr/bin/env bash
# Side-by-side load test of mta-sts-daemon and postfix-mta-sts-resolver (Python, from PyPI), with
# the same load tool, the same keys and the same YAML config, against the ceiling (a netstring server
# that answers at once). Everything runs on loopback; Redis and PostgreSQL are private instances.
#
#   bash benches/daemon-bench.sh [DOMAINS] [SECONDS] [SERVERS...]
#
# DOMAINS (default 10000) policies are written into each persistent cache in postfix-mta-sts-resolver's
# layout by the resolver's own code (benches/py/resolver-bench.py), fetched "now", and both daemons
# run with cache_grace 3600, so every lookup is a warm cache hit. Each server gets one warm-up pass
# (every key once), then SECONDS (default 10) at 10 and at 100 connections. SERVERS selects a subset
# of: rust-sqlite rust-redis rust-postgres py-internal py-sqlite py-redis py-postgres, and
# rust-sqlite-dane: rust-sqlite with DANE on (`default_zone.dane.enabled`) against a DNSSEC-signed
# copy of the zone where no domain has TLSA, so each lookup checks the cached DANE state and then
# answers from MTA-STS (the warm path's most work with DANE on); its warm-up pass does the DANE
# lookups, validated from the bench server's root key.
# Resident memory (VmRSS and peak VmHWM) is read from /proc after the runs. Our in-process tier
# holds all DOMAINS policies; with TIER=default it keeps its default size (100,000 domains) and the
# rest is read from the store on a miss.
# DAEMON_ENV (e.g. `DAEMON_ENV=TOKIO_WORKER_THREADS=2`) is set in our daemon's environment only.
# The Python daemon is installed into $PY_VENV (default target/py-resolver) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
domains=${1:-10000}
seconds=${2:-10}
shift $(( $# > 2 ? 2 : $# ))
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(rust-sqlite rust-redis rust-postgres py-internal py-sqlite py-redis py-postgres)

venv=${PY_VENV:-target/py-resolver}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'postfix-mta-sts-resolver[sqlite,redis,postgres,uvloop]==1.5.1'
fi
cargo build -q --release -p mta-sts-daemon -p mta-sts-examples -p mta-sts-benches
bin=target/release

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Both daemons find every policy fetched less than cache_grace ago and make no DNS query; the DNS
# server is there so that nothing would leave loopback if one were made (Python ignores `dns:`).
"$bin/bench-dns" "$domains" > "$work/dns" &
pids+=($!)
"$bin/bench-services" > "$work/services" &
pids+=($!)
for _ in $(seq 300); do [ "$(wc -l < "$work/services" 2>/dev/null || echo 0)" -ge 2 ] && break; sleep 0.1; done
for _ in $(seq 300); do [ -s "$work/dns" ] && break; sleep 0.1; done
dns_addr=$(cat "$work/dns")
if [[ " ${servers[*]} " == *-dane* ]]; then
    "$bin/bench-dns" "$domains" --signed "$work/root.key" > "$work/signed-dns" &
    pids+=($!)
    for _ in $(seq 600); do [ -s "$work/signed-dns" ] && break; sleep 0.1; done
    signed_addr=$(cat "$work/signed-dns")
fi
redis_url=$(sed -n 's/^redis=//p' "$work/services")
postgres_dsn=$(sed -n 's/^postgres=//p' "$work/services")
[ -n "$redis_url" ] && [ -n "$postgres_dsn" ] || { echo "bench-services did not start" >&2; exit 1; }

seq -f 'd%.0f.example' 0 $((domains - 1)) > "$work/keys.txt"
port=18461

wait_port() {
    for _ in $(seq 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    return 1
}

config() { # FILE CACHE-TYPE OPTIONS-YAML
    cat > "$1" <<YAML
host: 127.0.0.1
port: $port
cache_grace: 3600
dns:
  nameservers: ["$dns_addr"]
cache:
  type: $2
  options:
$3
YAML
}

memory() { awk '/^VmRSS|^VmHWM/ { printf "%s %.1f MB  ", $1, $2 / 1024 }' "/proc/$1/status"; }

# One line per run, and a table row with the share of the ceiling run just before it: the two
# runs are seconds apart, so drift on a shared machine affects both alike.
measure() { # ADDR CONNECTIONS
    "$bin/socketmap-load" "$1" "$work/keys.txt" "$2" "$seconds"
}
field() { sed -n "s|.* $1=\([^ ]*\).*|\1|p" | sed 's/ms$//'; }
run() { # NAME PID
    "$bin/socketmap-load" "127.0.0.1:$port" "$work/keys.txt" 20 once > "$work/warmup"
    echo "$1 warm-up: $(cat "$work/warmup")"
    if [ "$(field errors < "$work/warmup")" != 0 ] || [ "$(field notfound < "$work/warmup")" != 0 ]; then
        echo "$1: the warm-up pass did not answer OK for every domain" >&2
        exit 1
    fi
    for connections in 10 100; do
        ceiling=$(measure "$ceiling_addr" "$connections")
        result=$(measure "127.0.0.1:$port" "$connections")
        echo "ceiling $ceiling"
        echo "$1 $result"
        rate=$(field 'lookups/s' <<< "$result")
        ceiling_rate=$(field 'lookups/s' <<< "$ceiling")
        rows+=("| $1 | $connections | $rate | $(field p50 <<< "$result") | $(field p99 <<< "$result") | $(field p99.9 <<< "$result") | $(field errors <<< "$result") | $(field notfound <<< "$result") | $ceiling_rate | $(field p99 <<< "$ceiling") | $(( 100 * ${rate:-0} / ${ceiling_rate:-1} ))% |")
    done
    mem=$(memory "$2")
    echo "$1 memory: $mem"
    memrows+=("| $1 | $mem |")
    kill "$2"
    wait "$2" 2>/dev/null || true
    # Forget it, so the cleanup never signals a process that reused the pid.
    local kept=()
    for pid in "${pids[@]}"; do [ "$pid" = "$2" ] || kept+=("$pid"); done
    pids=("${kept[@]}")
    port=$((port + 1))
}
rows=()
memrows=()

# The ceiling: a netstring server that answers every key at once, running throughout.
"$bin/socketmap-static" 127.0.0.1:18460 > /dev/null &
pids+=($!)
ceiling_addr=127.0.0.1:18460
wait_port 18460

for server in "${servers[@]}"; do
    cfg="$work/$server.yml"
    case "$server" in
        *-sqlite) config "$cfg" sqlite "    filename: $work/$server.db" ;;
        rust-sqlite-dane)
            config "$cfg" sqlite "    filename: $work/$server.db"
            sed -i "s|nameservers: \[\"$dns_addr\"\]|nameservers: [\"$signed_addr\"]\n  trust_anchor: $work/root.key|" "$cfg"
            printf 'default_zone:\n  dane:\n    enabled: true\n' > "$cfg.dane"
            ;;
        *-redis) config "$cfg" redis "    url: \"$redis_url/$([ "${server%%-*}" = rust ] && echo 1 || echo 2)\"" ;;
        *-postgres)
            config "$cfg" postgres "    dsn: \"$postgres_dsn\"" ;;
        py-internal) config "$cfg" internal "    cache_size: $domains" ;;
    esac
    if [ "${server%%-*}" = rust ]; then
        # Our in-process tier holds every policy (its size is our `cache_size` option; the Python
        # cache classes refuse unknown options, so the prefill reads the file without it).
        cp "$cfg" "$cfg.prefill"
        [ "${TIER:-all}" = default ] || echo "    cache_size: $domains" >> "$cfg"
        [ -f "$cfg.dane" ] && cat "$cfg.dane" >> "$cfg"
    fi
    case "$server" in
        rust-*)
            "$venv/bin/python" benches/py/resolver-bench.py prefill "$cfg.prefill" "$domains"
            env ${DAEMON_ENV:-} "$bin/mta-sts-daemon" -c "$cfg" -v warn &
            ;;
        py-internal)
            "$venv/bin/python" benches/py/resolver-bench.py run "$cfg" "$domains" -v warn &
            ;;
        py-*)
            "$venv/bin/python" benches/py/resolver-bench.py prefill "$cfg" "$domains"
            "$venv/bin/python" benches/py/resolver-bench.py run "$cfg" 0 -v warn &
            ;;
        *) echo "unknown server $server" >&2; exit 64 ;;
    esac
    pid=$!
    pids+=("$pid")
    wait_port "$port"
    run "$server" "$pid"
    if [ "$server" = rust-postgres ] || [ "$server" = py-postgres ]; then
        # Both daemons use the same table layout; start the next one from an empty table.
        "$venv/bin/python" - "$postgres_dsn" <<'PY'
import asyncio, sys, asyncpg
async def main():
    conn = await asyncpg.connect(sys.argv[1])
    await conn.execute("drop table if exists sts_policy_cache, proactive_fetch_ts")
    await conn.close()
asyncio.run(main())
PY
    fi
done

echo
echo "| server | connections | lookups/s | p50 ms | p99 ms | p99.9 ms | errors | NOTFOUND | ceiling lookups/s | ceiling p99 ms | share of ceiling |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "| server | resident memory after the runs |"
echo "|---|---|"
printf '%s\n' "${memrows[@]}"
