#!/usr/bin/env bash
# Interleaved A/B of two Gatehouse builds on one ClickHouse: `clickhouse-benchmark` against each build in turn,
# ROUNDS alternating runs of SECONDS each, printing QPS and the proxy's CPU per query (/proc utime+stime).
# Used for changes too small for the side-by-side benchmark's noise (benchmarks/RESULTS.md, "Fourth session").
#
#   benchmarks/ab-builds.sh OLD_DIR NEW_DIR CLICKHOUSE_TCP_PORT [ROUNDS=3] [CONCURRENCY=1] [QUERY='SELECT 1'] [SECONDS=6]
#
# OLD_DIR and NEW_DIR each hold a built checkout (dist/bin/cli.js, node_modules): e.g. a `git worktree` of the
# previous commit after `npx tsc -p tsconfig.build.json`. A ClickHouse to point at: `node dist/bin/cli.js sandbox`.
# Proxy on 127.0.0.1:9100 (admin 9101); loopback only; stops its proxies at the end.
set -euo pipefail
OLD=$1; NEW=$2; CH=$3; ROUNDS=${4:-3}; C=${5:-1}; Q=${6:-SELECT 1}; SECS=${7:-6}
TICK=$(getconf CLK_TCK)
stop() { pkill -f "cli.js serve --listen 127.0.0.1:9100" || true; sleep 0.5; }
trap stop EXIT
for r in $(seq "$ROUNDS"); do
  for mode in old new; do
    stop
    dir=$OLD; [ "$mode" = new ] && dir=$NEW
    node "$dir/dist/bin/cli.js" serve --listen 127.0.0.1:9100 --writer "127.0.0.1:$CH" --admin 127.0.0.1:9101 --workers 1 >/dev/null 2>&1 &
    pid=$!
    sleep 1.5
    echo "$Q" | clickhouse-benchmark --port 9100 -c "$C" -i 1500 >/dev/null 2>&1 # warm-up (JIT, pool)
    t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
    out=$(echo "$Q" | clickhouse-benchmark --port 9100 -c "$C" -i 100000000 -t "$SECS" 2>&1 | grep -E "Queries executed|^QPS" | tail -2 | tr '\n' ' ')
    t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
    q=$(sed -E 's/.*Queries executed: ([0-9]+).*/\1/' <<<"$out")
    qps=$(sed -E 's/.*QPS: ([0-9.]+).*/\1/' <<<"$out")
    echo "$mode round=$r c=$C queries=$q qps=$qps proxy_cpu_us_per_query=$(( (t1 - t0) * 1000000 / TICK / q ))"
  done
done
