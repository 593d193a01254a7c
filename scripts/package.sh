#!/usr/bin/env bash
# The Debian package.
#
#   bash scripts/package.sh          builds target/debian/mta-sts-daemon_<version>-1_<arch>.deb and
#                                    prints its path last
#   bash scripts/package.sh --check  builds it, installs it on this machine with dpkg -i, checks the
#                                    installation, then purges it (CI: scripts/test.sh; needs root)
#
# The build: a release build of mta-sts-daemon and mta-sts-query, then cargo-deb (installed if
# missing) with the metadata at the end of crates/mta-sts-daemon/Cargo.toml. Reproducible:
# Cargo.lock is enforced (--locked), file dates in the package are the last commit's
# (SOURCE_DATE_EPOCH), and the checkout's and Cargo's paths are replaced in the binaries
# (--remap-path-prefix), so one commit built with one toolchain gives the same bytes wherever it
# is checked out.
set -euo pipefail
shopt -s inherit_errexit # a failing build inside $(build) stops it
cd "$(dirname "$0")/.."
root=$PWD
cargo_deb_version=3.8.0

build() {
  local t0=$SECONDS
  if ! command -v cargo-deb >/dev/null; then
    cargo install cargo-deb --locked --version "$cargo_deb_version"
    echo "cargo-deb $cargo_deb_version installed in $((SECONDS - t0))s" >&2
  elif ! cargo deb --version | grep -qF "$cargo_deb_version"; then
    echo "note: $(cargo deb --version) is installed; this script is tested with $cargo_deb_version" >&2
  fi
  export CARGO_INCREMENTAL=0
  export RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=$root=/build/mta-sts-rs --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"
  # One build for both binaries (cargo-deb would build only the crate holding the metadata).
  local t1=$SECONDS
  cargo build --release --locked -p mta-sts-daemon -p mta-sts-query
  echo "release build of mta-sts-daemon and mta-sts-query: $((SECONDS - t1))s" >&2
  # The dates in the archive. Given to cargo-deb only: the C code built by ring and
  # libsqlite3-sys does not use __DATE__ or __TIME__, and cc rebuilds them whenever it changes.
  local epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
  local t2=$SECONDS
  SOURCE_DATE_EPOCH=$epoch cargo deb --no-build --locked -p mta-sts-daemon | tail -n 1
  echo "cargo deb: $((SECONDS - t2))s" >&2
}

if [ "${1:-}" != "--check" ]; then
  build
  exit 0
fi

# ---- --check: install, check, purge. Every check that fails stops the script with status 1. ----
fail() {
  echo "package check FAILED: $*" >&2
  exit 1
}
ok() { echo "ok: $*"; }
[ "$(id -u)" = 0 ] || fail "--check installs the package: run it as root"

t=$SECONDS
deb=$(build)
[ -f "$deb" ] || fail "cargo deb did not print the package's path (got: $deb)"
echo "built $deb in $((SECONDS - t))s in all"
units=(mta-sts-daemon.service mta-sts-daemon-chroot.service mta-sts-daemon-redis.service)
man_pages=(man1/mta-sts-daemon.1.gz man1/mta-sts-query.1.gz man5/mta-sts-daemon.yml.5.gz)

# What the archive holds, before touching the system.
listing=$(dpkg-deb -c "$deb")
for f in usr/bin/mta-sts-daemon usr/bin/mta-sts-query "${man_pages[@]/#/usr/share/man/}" \
  "${units[@]/#/usr/lib/systemd/system/}" usr/share/doc/mta-sts-daemon/copyright \
  usr/share/doc/mta-sts-daemon/examples/mta-sts-daemon-chroot.yml; do
  grep -qE " \./$f\$" <<<"$listing" || fail "$f is not in the package"
done
grep -qE '^-rw-r----- 0/0 .* \./etc/mta-sts-daemon\.yml$' <<<"$listing" ||
  fail "etc/mta-sts-daemon.yml is not in the package as -rw-r----- root:root"
[ "$(dpkg-deb -I "$deb" conffiles)" = /etc/mta-sts-daemon.yml ] ||
  fail "/etc/mta-sts-daemon.yml is not the package's only conffile"
ok "package contents"

# Never over an installation or a configuration of someone's own: CI runs this on a fresh machine.
if dpkg-query -W -f='${Status}' mta-sts-daemon 2>/dev/null | grep -q 'ok installed' ||
  [ -e /etc/mta-sts-daemon.yml ] || [ -e /var/lib/mta-sts ] || [ -e /var/spool/postfix/mta-sts ] ||
  getent passwd mta-sts >/dev/null || getent group mta-sts >/dev/null; then
  echo "SKIPPED the install check: mta-sts-daemon is already installed or set up on this machine" \
    "(package, /etc/mta-sts-daemon.yml, /var/lib/mta-sts, /var/spool/postfix/mta-sts or the" \
    "mta-sts user); the package was built and its contents checked" >&2
  exit 0
fi

# Debian packages the checks need: the package's own dependencies, systemd-analyze.
need=()
deps=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/[(|].*//; s/ //g')
for p in $deps; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
command -v systemd-analyze >/dev/null || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}"
fi

daemon_pid=
tmp=$(mktemp -d)
cleanup() {
  [ -z "$daemon_pid" ] || kill -KILL "$daemon_pid" 2>/dev/null || true
  rm -rf "$tmp"
  if dpkg-query -W -f='${Status}' mta-sts-daemon 2>/dev/null | grep -q 'install ok'; then
    dpkg --purge mta-sts-daemon >/dev/null || true
  fi
}
trap cleanup EXIT

dpkg -i "$deb"
ok "dpkg -i"

version=$(dpkg-deb -f "$deb" Version)
version=${version%-*}
for bin in mta-sts-daemon mta-sts-query; do
  out=$("/usr/bin/$bin" --version) || fail "/usr/bin/$bin --version failed"
  [ "$out" = "$bin $version" ] || fail "/usr/bin/$bin --version says '$out', expected '$bin $version'"
done
ok "/usr/bin/mta-sts-daemon --version: $(/usr/bin/mta-sts-daemon --version)"

man_check=yes # for systemd-analyze verify below
command -v man >/dev/null || man_check=no
if grep -rqs '^path-exclude[= ]*/usr/share/man' /etc/dpkg/dpkg.cfg /etc/dpkg/dpkg.cfg.d; then
  man_check=no
  echo "SKIPPED the man pages: this system's dpkg configuration leaves out /usr/share/man" >&2
else
  for page in "${man_pages[@]}"; do
    zcat "/usr/share/man/$page" | head -n 1 | grep -q '^\.TH ' || fail "/usr/share/man/$page is not a gzipped man page"
  done
  ok "man pages"
fi

[ "$(stat -c '%U:%G %a' /etc/mta-sts-daemon.yml)" = "root:mta-sts 640" ] ||
  fail "/etc/mta-sts-daemon.yml is $(stat -c '%U:%G %a' /etc/mta-sts-daemon.yml), expected root:mta-sts 640"
ok "/etc/mta-sts-daemon.yml root:mta-sts 640"

IFS=: read -r _ _ uid gid _ home shell < <(getent passwd mta-sts) || fail "no user mta-sts"
[ "$shell" = /usr/sbin/nologin ] || fail "user mta-sts has shell $shell, expected /usr/sbin/nologin"
[ "$uid" -lt 1000 ] || fail "user mta-sts is not a system user (uid $uid)"
[ "$(getent group "$gid" | cut -d: -f1)" = mta-sts ] || fail "user mta-sts's group is not mta-sts"
[ "$home" = /var/lib/mta-sts ] || fail "user mta-sts's home is $home"
[ "$(stat -c '%U:%G %a' /var/lib/mta-sts)" = "mta-sts:mta-sts 750" ] ||
  fail "/var/lib/mta-sts is $(stat -c '%U:%G %a' /var/lib/mta-sts), expected mta-sts:mta-sts 750"
ok "system user mta-sts (uid $uid, shell $shell), /var/lib/mta-sts"

# Not enabled (systemctl is-enabled reads the unit files, no running systemd needed) and not started.
for unit in "${units[@]}"; do
  state=$(systemctl is-enabled "$unit" 2>&1) || true
  [ "$state" = disabled ] || fail "$unit is '$state' after installation, expected disabled"
  if [ -d /run/systemd/system ] && systemctl is-active --quiet "$unit"; then
    fail "$unit was started by the installation"
  fi
done
[ -z "$(find /etc/systemd/system -lname '*mta-sts-daemon*' 2>/dev/null)" ] ||
  fail "the installation enabled a unit: $(find /etc/systemd/system -lname '*mta-sts-daemon*')"
# (/proc/PID belongs to the process's user; procps may not be installed.)
[ -z "$(find /proc -mindepth 1 -maxdepth 1 -regex '/proc/[0-9]+' -user mta-sts 2>/dev/null)" ] ||
  fail "a process runs as mta-sts right after installation"
ok "no unit enabled, none running"

# systemd-analyze verify works offline (no systemd as PID 1 needed). It runs `man` for each
# Documentation=man: entry: without man-db (a minimal Debian), or with the pages left out by
# dpkg's configuration, that is skipped with --man=no (the pages were checked above). The Redis
# unit needs redis-server.service (installed by scripts/test.sh's first step); postfix.service is
# only named in Before=.
[ -e /etc/systemd/system/redis-server.service ] || [ -e /lib/systemd/system/redis-server.service ] ||
  [ -e /usr/lib/systemd/system/redis-server.service ] ||
  fail "redis-server.service is not installed: systemd-analyze verify cannot load the unit that BindsTo= it (apt-get install redis-server; scripts/test.sh does)"
for unit in "${units[@]}"; do
  out=$(systemd-analyze verify --man="$man_check" "/usr/lib/systemd/system/$unit" 2>&1) ||
    fail "systemd-analyze verify $unit: $out"
  [ -z "$out" ] || fail "systemd-analyze verify $unit warns: $out"
done
ok "systemd-analyze verify --man=$man_check: ${units[*]}"

# The daemon as the units run it: user mta-sts, the installed configuration (readable by it), the
# state directory (writable by it), a socketmap answer, a clean stop.
wait_for() { # condition, what
  for _ in $(seq 100); do
    if eval "$1"; then return 0; fi
    kill -0 "$daemon_pid" 2>/dev/null || fail "the daemon exited while waiting for $2: $(cat "$tmp/daemon.log")"
    sleep 0.1
  done
  fail "timed out waiting for $2: $(cat "$tmp/daemon.log")"
}
stop_daemon() {
  kill -TERM "$daemon_pid"
  local status=0
  wait "$daemon_pid" || status=$?
  daemon_pid=
  [ "$status" = 0 ] || fail "the daemon exited with $status after SIGTERM: $(cat "$tmp/daemon.log")"
  # Unknown configuration keys, unusable settings: warnings and errors have no place here.
  ! grep -E ' (WARN|ERROR) ' "$tmp/daemon.log" || fail "the daemon warned (above)"
}
tcp_open() { (exec 3<>/dev/tcp/127.0.0.1/8461) 2>/dev/null; }
# What the units' RuntimeDirectory=mta-sts makes: the packaged configurations' control socket
# (/run/mta-sts/control.sock) goes there.
install -d -o mta-sts -g mta-sts -m 0750 /run/mta-sts
if tcp_open; then
  echo "SKIPPED the TCP run: something listens on 127.0.0.1:8461 already" >&2
else
  setpriv --reuid=mta-sts --regid=mta-sts --init-groups --inh-caps=-all \
    env -C /var/lib/mta-sts /usr/bin/mta-sts-daemon -c /etc/mta-sts-daemon.yml >"$tmp/daemon.log" 2>&1 &
  daemon_pid=$!
  wait_for tcp_open "127.0.0.1:8461"
  # A single label is answered without any lookup: no network needed.
  exec 3<>/dev/tcp/127.0.0.1/8461
  printf '17:postfix localhost,' >&3
  answer=$(timeout 10 head -c 12 <&3) || true
  exec 3>&-
  [ "$answer" = "9:NOTFOUND ," ] || fail "socketmap answer '$answer', expected '9:NOTFOUND ,'"
  [ "$(stat -c %U /var/lib/mta-sts/cache.db 2>/dev/null)" = mta-sts ] ||
    fail "no /var/lib/mta-sts/cache.db owned by mta-sts"
  [ "$(stat -c '%U %a' /run/mta-sts/control.sock 2>/dev/null)" = "mta-sts 600" ] ||
    fail "no /run/mta-sts/control.sock owned by mta-sts, mode 600"
  /usr/bin/mta-sts-daemon ctl stats | grep -q '^backend: *sqlite$' ||
    fail "mta-sts-daemon ctl stats (as root, through /run/mta-sts/control.sock) did not answer"
  stop_daemon
  [ ! -e /run/mta-sts/control.sock ] || fail "/run/mta-sts/control.sock is left behind after a clean stop"
  ok "TCP: runs as mta-sts with /etc/mta-sts-daemon.yml, answers, answers ctl, stops cleanly"
fi

# The chroot layout (contrib/mta-sts-daemon-chroot.service and its example configuration): the
# unit's own ExecStartPre, the daemon as mta-sts with postfix as a supplementary group, then
# postmap as postfix (allowed) and as nobody (refused) through the socket.
if [ -x /usr/sbin/postmap ] && getent group postfix >/dev/null && [ -d /var/spool/postfix ]; then
  unit=/usr/lib/systemd/system/mta-sts-daemon-chroot.service
  pre=$(sed -n 's/^ExecStartPre=+//p' "$unit")
  [ -n "$pre" ] || fail "no ExecStartPre=+ in $unit"
  $pre
  [ "$(stat -c '%U:%G %a' /var/spool/postfix/mta-sts)" = "mta-sts:postfix 750" ] ||
    fail "/var/spool/postfix/mta-sts is $(stat -c '%U:%G %a' /var/spool/postfix/mta-sts), expected mta-sts:postfix 750"
  sock=/var/spool/postfix/mta-sts/mta-sts.sock
  setpriv --reuid=mta-sts --regid=mta-sts --groups=postfix --inh-caps=-all \
    env -C /var/lib/mta-sts /usr/bin/mta-sts-daemon \
    -c /usr/share/doc/mta-sts-daemon/examples/mta-sts-daemon-chroot.yml >"$tmp/daemon.log" 2>&1 &
  daemon_pid=$!
  wait_for "[ -S $sock ]" "$sock"
  [ "$(stat -c '%U:%G %a' $sock)" = "mta-sts:postfix 660" ] ||
    fail "$sock is $(stat -c '%U:%G %a' $sock), expected mta-sts:postfix 660"
  # postmap needs a main.cf (none on a Postfix installed with "No configuration"): an empty one.
  mkdir -m 755 "$tmp/postfix" && touch "$tmp/postfix/main.cf" && chmod 644 "$tmp/postfix/main.cf"
  chmod 755 "$tmp"
  status=0
  err=$(runuser -u postfix -- postmap -c "$tmp/postfix" -q localhost "socketmap:unix:$sock:postfix" 2>&1) || status=$?
  # Status 1 without a word: NOTFOUND. A refused or failed connection says so on standard error.
  if [ "$status" != 1 ] || [ -n "$err" ]; then fail "postmap as postfix: status $status, $err"; fi
  err=$(runuser -u nobody -- postmap -c "$tmp/postfix" -q localhost "socketmap:unix:$sock:postfix" 2>&1) || true
  grep -q 'Permission denied' <<<"$err" || fail "postmap as nobody was not refused: $err"
  stop_daemon
  [ ! -e $sock ] || fail "$sock is left behind after a clean stop"
  ok "chroot socket: mta-sts:postfix 660 in mta-sts:postfix 750, postmap as postfix answered, nobody refused"
else
  echo "SKIPPED the chroot socket run: Postfix (postmap, group postfix, /var/spool/postfix) is not installed" >&2
fi

# systemd removes a unit's RuntimeDirectory when it stops.
rmdir /run/mta-sts
dpkg --purge mta-sts-daemon
for p in /etc/mta-sts-daemon.yml /var/lib/mta-sts /var/spool/postfix/mta-sts /usr/bin/mta-sts-daemon; do
  [ ! -e "$p" ] || fail "$p is left after dpkg --purge"
done
! getent passwd mta-sts >/dev/null || fail "user mta-sts is left after dpkg --purge"
! getent group mta-sts >/dev/null || fail "group mta-sts is left after dpkg --purge"
ok "dpkg --purge left nothing behind"
echo "package built and checked in $((SECONDS - t))s"
