#!/usr/bin/env bash
# Install the real services the integration tests talk to (Debian 12, run as root):
#   - Dovecot (IMAP + LMTP) and Redis from the Debian mirrors, only if missing;
#   - FerretDB v1.24.0 (MongoDB wire protocol over SQLite) built from the Go module proxy
#     into <project>/.cache/ferretdb/ferretdb, unless that binary already reports v1.24.0.
# Idempotent: a second run installs and builds nothing.
#
# Why FerretDB is not built with `go install …@v1.24.0`: the Go proxy answers 403 on the
# module's @v/list (used by go install's deprecation check), and a plain build from the
# module cache panics at start-up because build/version/version.txt is not in the module
# zip. So we fetch the module through a throw-away main module, copy its source, add
# version.txt and build with a replace directive.
set -euo pipefail

FERRETDB_VERSION=v1.24.0
FERRETDB_MODULE=github.com/FerretDB/FerretDB
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST="$ROOT/.cache/ferretdb/ferretdb"

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

# ---- FerretDB ------------------------------------------------------------------------------
# `ferretdb --version` prints "version: v1.24.0" among other lines. (Captured, not piped into
# grep -q: with pipefail, grep quitting early makes the pipeline fail on SIGPIPE.)
has_version() { local out; out=$("$1" --version 2>&1) || return 1; grep -qx "version: $FERRETDB_VERSION" <<<"$out"; }
if [ -x "$DEST" ] && has_version "$DEST"; then
  step "ferretdb $FERRETDB_VERSION present"
  done_all
  exit 0
fi
command -v go >/dev/null 2>&1 || die "go is not installed; it is needed to build FerretDB $FERRETDB_VERSION"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferretbuild.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
go mod init ferretbuild >/dev/null 2>&1 || die "go mod init failed"
cat > tools.go <<GO
//go:build tools

package tools

import _ "$FERRETDB_MODULE/cmd/ferretdb"
GO
go get "$FERRETDB_MODULE/cmd/ferretdb@$FERRETDB_VERSION" >go-get.log 2>&1 \
  || { cat go-get.log >&2; die "go get $FERRETDB_MODULE@$FERRETDB_VERSION failed"; }
step "go get ferretdb"

MODCACHE=$(go env GOMODCACHE)
SRC="$MODCACHE/github.com/!ferret!d!b/!ferret!d!b@$FERRETDB_VERSION"
[ -d "$SRC" ] || die "module source not found in the module cache at $SRC"
cp -r "$SRC" ferretsrc
chmod -R u+w ferretsrc
mkdir -p ferretsrc/build/version
echo "$FERRETDB_VERSION" > ferretsrc/build/version/version.txt
go mod edit -replace "$FERRETDB_MODULE=./ferretsrc"
step "prepare source"

mkdir -p "$(dirname "$DEST")"
go build -o "$DEST.tmp" "$FERRETDB_MODULE/cmd/ferretdb" >go-build.log 2>&1 \
  || { cat go-build.log >&2; die "go build of ferretdb failed"; }
mv -f "$DEST.tmp" "$DEST"
step "go build ferretdb"

has_version "$DEST" || { "$DEST" --version >&2 || true; die "built $DEST does not report $FERRETDB_VERSION"; }
echo "[install-test-services] ferretdb $FERRETDB_VERSION -> ${DEST#"$ROOT/"}"
done_all
