#!/usr/bin/env bash
# Runs a local Tansu broker on 127.0.0.1:$1 (default 9093) in the foreground and creates first-topic with
# 2 partitions once it listens. Ctrl+C stops it. Storage is in memory: a restart starts empty.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${1:-9093}"
TANSU=.tools/bin/tansu
URL="tcp://127.0.0.1:$PORT"

bash scripts/install-tansu.sh
"$TANSU" broker --listener-url "$URL" --advertised-listener-url "$URL" --storage-engine memory://tansu/ &
BROKER=$!
trap 'kill $BROKER 2>/dev/null; wait $BROKER 2>/dev/null' EXIT INT TERM
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.05
done
"$TANSU" topic create first-topic --partitions 2 --broker "$URL" >/dev/null
echo "broker: listening on 127.0.0.1:$PORT with first-topic (2 partitions); Ctrl+C stops it"
wait $BROKER
