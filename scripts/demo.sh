#!/usr/bin/env bash
# `make demo`: a local broker (no Docker), first-topic with 2 partitions, the producer on :5000 and two
# consumers of first-group on :8000 and :8001. Prints the lab page's URL; Ctrl+C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

BROKER_PORT="${BROKER_PORT:-9093}"
# A shorter session than the consumer's 10 s default, so a hand-over is quick to watch: the broker holds a
# rebalance for about half a session, and notices a killed consumer after a whole one.
SESSION_TIMEOUT_MS="${SESSION_TIMEOUT_MS:-4000}"
# How long Tansu may park a consumer's fetch. Tansu re-checks a parked fetch instead of waking it on a produce,
# so a shorter wait means more fetches for the broker; measured with two consumers attached (2 cores, load
# 11-36): 20 ms cost Tansu 4-8% CPU while idle, 100 ms 1-2%, and a click still reached a consumer in about
# 8 ms (p50, empty topic) to 31 ms (p50, 50,000 events in the topic), p90 52-70 ms: instant at a workshop's
# pace. FETCH_MIN_BYTES stays 1 (Apache Kafka would otherwise hold a lone click for the whole wait; Tansu
# ignores it) and FETCH_MAX_BYTES 1 MiB (it only matters when catching up).
FETCH_MAX_WAIT_MS="${FETCH_MAX_WAIT_MS:-100}"
BOOTSTRAP="127.0.0.1:$BROKER_PORT"
URL="tcp://$BOOTSTRAP"
LOGS=target/demo
mkdir -p "$LOGS"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$BROKER_PORT" 5000 8000 8001; do
  if port_busy "$port"; then
    echo "demo: port $port is already in use (another demo, or the workshop's cluster?); stop it first" >&2
    exit 1
  fi
done

pids=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "demo: stopping"
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

.tools/bin/tansu broker --listener-url "$URL" --advertised-listener-url "$URL" \
  --storage-engine memory://tansu/ >"$LOGS/broker.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do port_busy "$BROKER_PORT" && break; sleep 0.05; done
.tools/bin/tansu topic create first-topic --partitions 2 --broker "$URL" >/dev/null

export KAFKA_BOOTSTRAP_SERVERS="$BOOTSTRAP" KAFKA_TOPIC=first-topic SESSION_TIMEOUT_MS FETCH_MAX_WAIT_MS
PORT=5000 target/release/producer >"$LOGS/producer.log" 2>&1 &
pids+=($!)
CONSUMER_GROUP=first-group PORT=8000 target/release/consumer >"$LOGS/consumer-8000.log" 2>&1 &
pids+=($!)
CONSUMER_GROUP=first-group PORT=8001 target/release/consumer >"$LOGS/consumer-8001.log" 2>&1 &
second_consumer=$!
pids+=($!)

cat <<MSG

  kafka-lab is running (logs in $LOGS/):
    lab page   http://localhost:5000
    broker     $BOOTSTRAP  (first-topic, 2 partitions)
    consumers  http://localhost:8000/status  http://localhost:8001/status  (group first-group,
               session timeout ${SESSION_TIMEOUT_MS} ms, fetch max wait ${FETCH_MAX_WAIT_MS} ms)

  Try the workshop's steps: click Send Event, then stop the second consumer and watch the hand-over:
    kill -INT $second_consumer     (it says goodbye: the group rebalances at once)
  or crash it instead, and the group notices after the session timeout:
    kill -KILL $second_consumer

  Press Ctrl+C to stop.
MSG
wait
