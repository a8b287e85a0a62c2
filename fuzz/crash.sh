#!/usr/bin/env bash
# The long crash test: kills a writing child process with SIGKILL ROUNDS times (default
# 1,000) and checks the database after each kill (host/tests/it/crash.rs), in the dev
# profile (fsync dominates; it avoids a cold release build of wasmtime), with the
# wasmtime sandbox so plugin installs are killed too.
#   fuzz/crash.sh 1000
set -euo pipefail
cd "$(dirname "$0")/.."
ONE_CRASH_ROUNDS=${1:-1000} cargo test -p one --features wasm --test it \
  crash::acknowledged_transactions_survive_sigkill -- --exact --nocapture
