#!/usr/bin/env bash
# Runs every test of quizcast: Rust unit and integration tests (real
# sockets). Works on a fresh machine; installs what the tests need.
set -euo pipefail
cd "$(dirname "$0")"

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --all-targets --no-fail-fast
else
  cargo test --workspace --all-targets --no-fail-fast
fi
