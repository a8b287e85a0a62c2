#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, one after another, and
# prints one line per target: runs, CPU seconds, and whether it found a crash.
#   fuzz/run.sh 60                # every target, one minute each
#   fuzz/run.sh 300 import keys   # two targets
# Uses stable without a sanitizer (`-s none`); with nightly, drop `-s none` for ASan.
# Needs `cargo install cargo-fuzz --locked`. Crashes land in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build -s none
status=0
for t in "${targets[@]}"; do
  log=$(mktemp)
  start=$(date +%s)
  if cargo fuzz run -s none "$t" -- -max_total_time="$seconds" -rss_limit_mb=4096 >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (see fuzz/artifacts/$t)"
    status=1
  fi
  runs=$(grep -Eo 'Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' || echo "?")
  echo "$t: $runs runs in $(( $(date +%s) - start )) s: $result"
  rm -f "$log"
done
exit $status
