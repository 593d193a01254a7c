#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this). Safe on a fresh machine: it
# installs what it needs (Redis, PostgreSQL and Postfix from Debian's packages, cargo-fuzz, cargo-deny
# and cargo-deb from crates.io). The tests start their own private Redis, Sentinel, PostgreSQL and Postfix
# processes on free ports or sockets in scratch directories, so they never touch a server already
# running here (nor /etc/postfix). Postfix's master runs only as root, as CI runs this script.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
start=$SECONDS
step() { printf '\n==> %s (%ss)\n' "$*" "$((SECONDS - start))"; }

# "tests: N passed, M failed" from cargo test's output, failed test binaries included.
summarize() {
  awk '/^test result: (ok|FAILED)\. [0-9]+ passed; [0-9]+ failed/ { p += $4; f += $6 }
       END { printf "tests: %d passed, %d failed\n", p, f }' "$1"
}
# The summary must count failures (it once could only ever say 0): check it on a sample first.
sample=$(mktemp)
printf 'test result: ok. 3 passed; 0 failed; 0 ignored\ntest result: FAILED. 23 passed; 1 failed; 0 ignored\n' >"$sample"
[ "$(summarize "$sample")" = "tests: 26 passed, 1 failed" ] || { echo "scripts/test.sh: summarize is broken" >&2; exit 1; }
rm -f "$sample"

step "system packages the tests need (Debian): redis-server, postgresql, postfix (postmap, private instances)"
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v psql >/dev/null || need+=(postgresql-client)
{ command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || need+=(postgresql)
[ -x /usr/sbin/postmap ] || need+=(postfix)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Postfix's installer must not ask questions nor write a mail configuration we did not ask for.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  echo "postfix postfix/mailname string localhost" | debconf-set-selections
  apt-get update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}"
fi
# The tests start private servers on their own ports; PostgreSQL refuses to run as root.
id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
command -v runuser >/dev/null || { echo "runuser (util-linux) is required" >&2; exit 1; }

step "format"
cargo fmt --all -- --check

step "clippy, all targets and features, warnings are errors"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "tests: unit, integration, doc, corpus replay"
mkdir -p target
# Under pipefail a failing `cargo test | tee` would end the script here, before the counts below:
# take cargo's status from PIPESTATUS instead, print the summary, then fail.
set +e
cargo test --workspace --all-features --locked 2>&1 | tee target/test-output.txt
tests_status=${PIPESTATUS[0]}
set -e
summary=$(summarize target/test-output.txt)
if [ "$tests_status" -ne 0 ]; then
  echo "${summary} (cargo test exited ${tests_status})"
  grep -E '^test .* FAILED$|^error' target/test-output.txt | head -40 || true
  exit "$tests_status"
fi

step "feature combinations: postfix-socketmap without tokio"
cargo check -p postfix-socketmap --no-default-features --locked

step "docs, warnings are errors"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --locked

step "supply chain: cargo deny (bans, licenses, sources)"
# A tool is built for this run, not for speed: cargo-deny's own release profile (fat LTO, one
# codegen unit) takes twice as long to build, on a fresh machine, as with these settings.
command -v cargo-deny >/dev/null || CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 cargo install cargo-deny --locked --version 0.20.2
cargo deny --locked check bans licenses sources

# ---- Debian package (scripts/package.sh): cargo-deb (installed if missing), a release build of both
# binaries, then dpkg -i on this machine, checks (binaries, man pages, conffile root:mta-sts 0640,
# nologin system user, no unit enabled or running, systemd-analyze verify, the daemon over TCP and
# over the chroot socket with postmap as postfix), dpkg --purge. Skipped if already installed here.
step "Debian package: build, dpkg -i, check the installation, dpkg --purge"
bash scripts/package.sh --check

step "fuzz smoke: every target, ${FUZZ_SECONDS:-10}s each"
bash scripts/fuzz.sh smoke "${FUZZ_SECONDS:-10}"
# fuzz/ is outside the workspace and cargo fuzz has no --locked: its committed Cargo.lock must be
# the one the fuzz build just used, or the fuzz dependencies float again.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1 && ! git diff --quiet -- fuzz/Cargo.lock; then
  echo "fuzz/Cargo.lock changed during the fuzz build: commit the updated file" >&2
  git --no-pager diff --stat -- fuzz/Cargo.lock >&2
  exit 1
fi

step "done"
echo "${summary}"
