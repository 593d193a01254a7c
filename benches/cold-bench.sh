#!/usr/bin/env bash
# Cold discovery, side by side: DOMAINS domains never seen before, each looked up once through a
# daemon over socketmap, so every lookup is a discovery (the `_mta-sts` TXT lookup, the policy
# host's address, a TLS handshake and an HTTP GET of https://mta-sts.DOMAIN/.well-known/mta-sts.txt),
# for mta-sts-daemon and postfix-mta-sts-resolver (Python, from PyPI), against the ceiling: our
# fetch clients discovering the same domains with no daemon (`fetch-measure cold`).
#
#   bash benches/cold-bench.sh [DOMAINS] [CONNECTIONS...]
#   SERVERS="rust-internal py-internal" bash benches/cold-bench.sh 10000 10 100
#
# DOMAINS defaults to 10000, CONNECTIONS to 10 and 100. SERVERS (environment) selects among
# rust-internal rust-sqlite py-internal py-sqlite (default: all four). Everything runs on loopback:
# - `bench-dns --pattern cold.example IP`: `_mta-sts.dN.cold.example` TXT `v=STSv1; id=cold1` and
#   `mta-sts.dN.cold.example` A IP for any N (the test kit's name patterns);
# - `bench-https IP:443 cold.example CA_FILE`: every `mta-sts.*.cold.example` serves a valid
#   `enforce` policy with a certificate from a test CA issued at the host's first handshake and kept.
#   IP is $HTTPS_IP (default 127.0.0.44, so nothing else on port 443 of 127.0.0.1 is in the way;
#   binding port 443 needs root or CAP_NET_BIND_SERVICE).
# Both daemons get the same YAML file (`dns.nameservers` = bench-dns, the cache section); ours
# trusts the test CA through `tls.ca_file`, the Python daemon through SSL_CERT_FILE, and its DNS
# resolvers (aiodns, which has no setting for this) are pointed at bench-dns by
# benches/py/resolver-bench.py (BENCH_DNS). Before any measurement one unmeasured ceiling pass
# discovers every domain, so the HTTPS server has issued all the certificates and every run sees
# the same servers. Then for each CONNECTIONS: the ceiling, then each daemon started fresh (empty
# cache, new process, so every domain is new to it), `socketmap-load ... once postfix secure`
# (each domain sent once over CONNECTIONS Postfix-style connections; an error is anything but an
# `OK secure...` answer), and the daemon's peak resident memory (VmHWM) and CPU time (user +
# system, from its start) read from /proc before it is stopped, with the CPU time the DNS and HTTPS
# servers used during the run. The Python daemon is installed into $PY_VENV (default target/py-resolver) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
domains=${1:-10000}
shift $(( $# > 0 ? 1 : 0 ))
concurrency=("$@")
[ ${#concurrency[@]} -gt 0 ] || concurrency=(10 100)
read -r -a servers <<< "${SERVERS:-rust-internal rust-sqlite py-internal py-sqlite}"
https_ip=${HTTPS_IP:-127.0.0.44}
zone=cold.example

venv=${PY_VENV:-target/py-resolver}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'postfix-mta-sts-resolver[sqlite,redis,postgres,uvloop]==1.5.1'
fi
cargo build -q --release -p mta-sts-daemon -p mta-sts-benches
bin=target/release
# Both daemons would honour a proxy from the environment; these fetches are all on loopback.
unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$bin/bench-dns" 0 --pattern "$zone" "$https_ip" > "$work/dns" &
dns_pid=$!
pids+=($!)
"$bin/bench-https" "$https_ip:443" "$zone" "$work/ca.pem" > "$work/https" &
https_pid=$!
pids+=($!)
for _ in $(seq 300); do [ -s "$work/dns" ] && [ -s "$work/https" ] && break; sleep 0.1; done
[ -s "$work/dns" ] && [ -s "$work/https" ] || { echo "bench-dns or bench-https did not start" >&2; exit 1; }
dns_addr=$(cat "$work/dns")
seq -f "d%.0f.$zone" 0 $((domains - 1)) > "$work/keys.txt"
port=18561

wait_port() {
    for _ in $(seq 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    return 1
}
field() { sed -n "s|.* $1=\([^ ]*\).*|\1|p" | sed 's/ms$//'; }
peak() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
# CPU seconds (user + system) a process has used so far.
hz=$(getconf CLK_TCK)
cpu() { awk -v hz="$hz" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
servers_cpu() { awk -v a="$(cpu "$dns_pid")" -v b="$(cpu "$https_pid")" 'BEGIN { printf "%.2f", a + b }'; }
ceiling() { # CONNECTIONS
    "$bin/fetch-measure" cold "$dns_addr" "$work/ca.pem" "$work/keys.txt" "$1"
}

config() { # FILE CACHE-YAML
    cat > "$1" <<YAML
host: 127.0.0.1
port: $port
dns:
  nameservers: ["$dns_addr"]
cache:
$2
YAML
}

echo "warm-up (the HTTPS server issues every certificate): $(ceiling 100)"

rows=()
for connections in "${concurrency[@]}"; do
    before=$(servers_cpu)
    result=$(ceiling "$connections")
    srv_cpu=$(awk -v a="$(servers_cpu)" -v b="$before" 'BEGIN { printf "%.2f", a - b }')
    echo "ceiling $result servers_cpu=${srv_cpu}s"
    ceiling_rate=$(field 'lookups/s' <<< "$result")
    rows+=("| ceiling (fetch clients, no daemon) | $connections | $ceiling_rate | $(field p50 <<< "$result") | $(field p99 <<< "$result") | $(field errors <<< "$result") | | | $srv_cpu | 100% |")
    for server in "${servers[@]}"; do
        cfg="$work/$server.yml"
        rm -f "$work/$server.db"
        case "$server" in
            *-internal) config "$cfg" "  type: internal
  options:
    cache_size: $domains" ;;
            *-sqlite) config "$cfg" "  type: sqlite
  options:
    filename: $work/$server.db" ;;
            *) echo "unknown server $server" >&2; exit 64 ;;
        esac
        case "$server" in
            rust-*)
                printf 'tls:\n  ca_file: %s\n' "$work/ca.pem" >> "$cfg"
                "$bin/mta-sts-daemon" -c "$cfg" -v warn 2> "$work/$server.log" &
                ;;
            py-*)
                BENCH_DNS=$dns_addr SSL_CERT_FILE=$work/ca.pem \
                    "$venv/bin/python" benches/py/resolver-bench.py run "$cfg" 0 -v warn 2> "$work/$server.log" &
                ;;
        esac
        pid=$!
        pids+=("$pid")
        wait_port "$port"
        before=$(servers_cpu)
        result=$("$bin/socketmap-load" "127.0.0.1:$port" "$work/keys.txt" "$connections" once postfix secure)
        srv_cpu=$(awk -v a="$(servers_cpu)" -v b="$before" 'BEGIN { printf "%.2f", a - b }')
        mem=$(peak "$pid")
        daemon_cpu=$(cpu "$pid")
        echo "$server $result peak=${mem}MB daemon_cpu=${daemon_cpu}s servers_cpu=${srv_cpu}s"
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        # Forget it, so the cleanup never signals a process that reused the pid.
        kept=()
        for p in "${pids[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
        pids=("${kept[@]}")
        port=$((port + 1))
        if [ "$(field errors <<< "$result")" != 0 ]; then
            echo "$server: errors; the end of its log:" >&2
            tail -5 "$work/$server.log" >&2
        fi
        rate=$(field 'lookups/s' <<< "$result")
        rows+=("| $server | $connections | $rate | $(field p50 <<< "$result") | $(field p99 <<< "$result") | $(field errors <<< "$result") | $mem MB | $daemon_cpu | $srv_cpu | $(( 100 * ${rate:-0} / ${ceiling_rate:-1} ))% |")
    done
done

echo
echo "| run | connections | lookups/s | p50 ms | p99 ms | errors | peak RSS (VmHWM) | daemon CPU s | DNS + HTTPS servers CPU s | share of ceiling |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
