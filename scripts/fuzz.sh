#!/usr/bin/env bash
# Builds and runs the cargo-fuzz targets on stable (no sanitizer: the crates forbid unsafe code).
#
#   scripts/fuzz.sh smoke [SECONDS]     every target for SECONDS (default 10) each — what CI runs
#   scripts/fuzz.sh runs N [TARGET...]  every (or the named) target for N executions each
#
# New inputs go to a scratch directory, so the committed seed corpus stays small; crashes are
# written to fuzz/artifacts/<target>/, where the replay test (crates/mta-sts-fuzz) picks them up.
set -euo pipefail
cd "$(dirname "$0")/.."

# Built quickly rather than optimised: it only drives the build and libFuzzer.
command -v cargo-fuzz >/dev/null || CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 cargo install cargo-fuzz --locked --version 0.13.2
mode=${1:-smoke}
shift || true

dict_for() {
  case "$1" in
    sts_*|tlsrpt_*|txt_*) echo fuzz/dicts/txt.dict ;;
    policy*|mx_*) echo fuzz/dicts/policy.dict ;;
    domain) echo fuzz/dicts/domain.dict ;;
    tlsa_*) echo fuzz/dicts/tlsa.dict ;;
    *) echo fuzz/dicts/socketmap.dict ;;
  esac
}

case "$mode" in
  smoke) limit=(-max_total_time="${1:-10}"); targets=() ;;
  runs) limit=(-runs="${1:?number of runs}"); shift; targets=("$@") ;;
  *) echo "usage: $0 smoke [SECONDS] | runs N [TARGET...]" >&2; exit 2 ;;
esac
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi

cargo fuzz build -s none --fuzz-dir fuzz "${targets[@]:0:0}" >/dev/null
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t" "fuzz/artifacts/$t"
  log="$scratch/$t.log"
  if ! cargo fuzz run -s none --fuzz-dir fuzz "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
      -dict="$(dict_for "$t")" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 "${limit[@]}" >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz: $t FAILED (artifact in fuzz/artifacts/$t/)"
    exit 1
  fi
  runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | grep -o '[0-9]*' || echo '?')
  echo "fuzz: $t ok, $runs executions, coverage $cov"
done
