#!/bin/sh
# The integration tests against the running devlake, in two vitest runs side by side: the load
# test (50 event streams for 10 minutes, mostly waiting; it measures only its own companion's
# Rucio requests, through its own counting proxy, and memory, so other tests beside it do not
# change what it measures) and all the others, one file at a time. This takes the load test's
# 12 minutes out of `npm test`'s length. Its output comes after the others', not interleaved.
set -u
cd "$(dirname "$0")/.."
log=$(mktemp)
npx vitest run --project load > "$log" 2>&1 &
load=$!
npx vitest run --project integration
others=$?
wait "$load"
loaded=$?
echo "dlaas: the load test (run beside the integration tests):"
cat "$log"
rm -f "$log"
[ "$others" -eq 0 ] && [ "$loaded" -eq 0 ]
