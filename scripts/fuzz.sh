#!/usr/bin/env bash
# Runs one fuzz target briefly: scripts/fuzz.sh TARGET PACKAGE [FUZZTIME].
# A crasher fails the run (go test writes it to PACKAGE/testdata/fuzz/TARGET/). Go's fuzz coordinator can
# also end a run with "context deadline exceeded" when the time runs out while it is still minimising a
# new interesting input; that finds nothing wrong with the code, so it is reported and retried once, and a
# second such ending counts as a pass.
set -uo pipefail
target=$1 pkg=$2 fuzztime=${3:-10s}
go=${GO:-go}
for try in 1 2; do
  out=$("$go" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1)
  rc=$?
  echo "$out"
  [ $rc -eq 0 ] && exit 0
  if grep -q "Failing input written\|panic:" <<<"$out" || ! grep -q "context deadline exceeded" <<<"$out"; then
    exit $rc
  fi
  echo "fuzz: ${target}: the coordinator timed out while minimising (no failing input); try $try of 2"
done
echo "fuzz: ${target}: no failing input found"
exit 0
