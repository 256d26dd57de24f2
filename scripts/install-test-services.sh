#!/usr/bin/env bash
# Install the real services the integration tests talk to (Debian 12, run as root):
#   - Dovecot (IMAP + LMTP) and Redis from the Debian mirrors, only if missing;
#   - SecantusDB (a MongoDB-wire server on WiredTiger, from PyPI) at a pinned version in a venv
#     under <project>/.cache/secantus/venv. It is GPL-2.0: it runs as a separate test process
#     and is never vendored or shipped. MONGODB_URI makes the tests use a real MongoDB instead.
# Idempotent: a second run installs nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { printf '%d.%01ds' $(( $1 / 1000 )) $(( $1 % 1000 / 100 )); } # ms -> "1.2s"
T_ALL=$(now_ms)
T_STEP=$T_ALL
step() { # step NAME: print how long the step that just finished took
  local t; t=$(now_ms)
  printf '[install-test-services] %-40s %s\n' "$1" "$(secs $(( t - T_STEP )))"
  T_STEP=$t
}
done_all() { echo "[install-test-services] done in $(secs $(( $(now_ms) - T_ALL )))"; }
die() { echo "[install-test-services] ERROR: $*" >&2; exit 1; }

# ---- Debian packages -------------------------------------------------------------------
need=()
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
[ -x /usr/lib/dovecot/lmtp ] || need+=(dovecot-lmtpd)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing packages (${need[*]}) and not root; install them with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
    || die "apt-get install ${need[*]} failed"
  # The packages' own systemd units are not wanted (and there is no systemd in CI);
  # tests start private instances on free loopback ports.
  step "apt-get install ${need[*]}"
else
  step "apt packages present"
fi
[ -x /usr/sbin/dovecot ] || die "dovecot not found after install"
[ -x /usr/lib/dovecot/lmtp ] || die "dovecot lmtp not found after install"
command -v redis-server >/dev/null 2>&1 || die "redis-server not found after install"

# ---- SecantusDB ----------------------------------------------------------------------------
SECANTUS_VERSION=0.7.0b3
VENV="$ROOT/.cache/secantus/venv"
installed=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("secantusdb"))' 2>/dev/null || true)
if [ "$installed" = "$SECANTUS_VERSION" ] && [ -x "$VENV/bin/secantusd-py" ]; then
  step "secantusdb $SECANTUS_VERSION present"
else
  command -v python3 >/dev/null 2>&1 || die "python3 is needed for SecantusDB"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$VENV/bin/pip" install -q --disable-pip-version-check "secantusdb==$SECANTUS_VERSION" \
    || die "pip install secantusdb==$SECANTUS_VERSION failed"
  step "pip install secantusdb $SECANTUS_VERSION"
fi
done_all
