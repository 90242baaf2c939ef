#!/usr/bin/env bash
# `make demo`: a local broker (no Docker), first-topic with 2 partitions, the producer on :5000 and two
# consumers of first-group on :8000 and :8001. Prints the lab page's URL; Ctrl+C stops everything.
#
# BROKER=tansu (the default): one Tansu broker on 127.0.0.1:9093, in memory.
# BROKER=kafka: an Apache Kafka cluster (scripts/kafka-cluster.sh): a controller on 127.0.0.1:19092 and two brokers
#               on 127.0.0.1:9093 and 9094, first-topic with replication factor 2, so one broker can be stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

BROKER="${BROKER:-tansu}"
# A shorter session than the consumer's 10 s default, so a hand-over is quick to watch, and the same on both
# brokers: 6 s is the shortest Apache Kafka accepts by default (group.min.session.timeout.ms). Tansu holds every
# rebalance for about half a session; both notice a killed consumer after a whole one.
SESSION_TIMEOUT_MS="${SESSION_TIMEOUT_MS:-6000}"
# How long Tansu may park a consumer's fetch. Tansu re-checks a parked fetch instead of waking it on a produce,
# so a shorter wait means more fetches for the broker; measured with two consumers attached (2 cores, load
# 11-36): 20 ms cost Tansu 4-8% CPU while idle, 100 ms 1-2%, and a click still reached a consumer in about
# 8 ms (p50, empty topic) to 31 ms (p50, 50,000 events in the topic), p90 52-70 ms: instant at a workshop's
# pace. FETCH_MIN_BYTES stays 1 (Apache Kafka would otherwise hold a lone click for the whole wait; Tansu
# ignores it) and FETCH_MAX_BYTES 512 KiB (it only matters when catching up).
FETCH_MAX_WAIT_MS="${FETCH_MAX_WAIT_MS:-100}"
LOGS=target/demo
mkdir -p "$LOGS"

case "$BROKER" in
  tansu) BOOTSTRAP=127.0.0.1:9093 broker_ports=(9093) ;;
  kafka) BOOTSTRAP=127.0.0.1:9093,127.0.0.1:9094 broker_ports=(9093 9094 19092) ;;
  *) echo "demo: BROKER must be tansu (the default) or kafka, not '$BROKER'" >&2; exit 2 ;;
esac

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "${broker_ports[@]}" 5000 8000 8001; do
  if port_busy "$port"; then
    echo "demo: port $port is already in use (another demo, make broker, or the workshop's cluster?); stop it first" >&2
    exit 1
  fi
done

broker_pid=""
app_pids=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "demo: stopping"
  # The services first (the consumers leave their group), then the broker. SIGTERM for the broker: a background
  # job of a script ignores SIGINT.
  for pid in "${app_pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${app_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -z "$broker_pid" ] || kill -TERM "$broker_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if [ "$BROKER" = kafka ]; then
  bash scripts/install-kafka.sh
  if [ "$SESSION_TIMEOUT_MS" -lt 6000 ] 2>/dev/null; then
    # Kafka would answer the consumers' JoinGroup with INVALID_SESSION_TIMEOUT: lower its minimum to match.
    export KAFKA_EXTRA_PROPERTIES="${KAFKA_EXTRA_PROPERTIES:-} group.min.session.timeout.ms=$SESSION_TIMEOUT_MS"
  fi
  # Its node logs stay in target/demo/kafka/logs after the demo; the next demo starts a new, empty cluster.
  bash scripts/kafka-cluster.sh run --dir "$LOGS/kafka" --parent $$ >"$LOGS/broker.log" 2>&1 &
  broker_pid=$!
  until grep -q 'ready in' "$LOGS/broker.log"; do
    if ! kill -0 "$broker_pid" 2>/dev/null; then
      cat "$LOGS/broker.log" >&2
      echo "demo: the Kafka cluster did not start (above)" >&2
      exit 1
    fi
    sleep 0.1
  done
  broker_line="brokers    $BOOTSTRAP  (Apache Kafka, first-topic: 2 partitions, replication factor 2;
               $(grep -o 'ready in [0-9.]* s' "$LOGS/broker.log"), logs in $LOGS/kafka/logs)"
  broker_pids=$(sed -n 's/^kafka: pids: //p' "$LOGS/broker.log" | cut -d';' -f1)
else
  bash scripts/install-tansu.sh
  URL="tcp://$BOOTSTRAP"
  .tools/bin/tansu broker --listener-url "$URL" --advertised-listener-url "$URL" \
    --storage-engine memory://tansu/ >"$LOGS/broker.log" 2>&1 &
  broker_pid=$!
  for _ in $(seq 200); do port_busy 9093 && break; sleep 0.05; done
  .tools/bin/tansu topic create first-topic --partitions 2 --broker "$URL" >/dev/null
  broker_line="broker     $BOOTSTRAP  (Tansu, first-topic, 2 partitions)"
fi

export KAFKA_BOOTSTRAP_SERVERS="$BOOTSTRAP" KAFKA_TOPIC=first-topic SESSION_TIMEOUT_MS FETCH_MAX_WAIT_MS
PORT=5000 target/release/producer >"$LOGS/producer.log" 2>&1 &
app_pids+=($!)
CONSUMER_GROUP=first-group PORT=8000 target/release/consumer >"$LOGS/consumer-8000.log" 2>&1 &
app_pids+=($!)
CONSUMER_GROUP=first-group PORT=8001 target/release/consumer >"$LOGS/consumer-8001.log" 2>&1 &
second_consumer=$!
app_pids+=($!)

cat <<MSG

  kafka-lab is running (logs in $LOGS/):
    lab page   http://localhost:5000
    $broker_line
    consumers  http://localhost:8000/status  http://localhost:8001/status  (group first-group,
               session timeout ${SESSION_TIMEOUT_MS} ms, fetch max wait ${FETCH_MAX_WAIT_MS} ms)

  Try the workshop's steps: click Send Event, then stop the second consumer and watch the hand-over:
    kill -INT $second_consumer     (it says goodbye: the group rebalances at once)
  or crash it instead, and the group notices after the session timeout:
    kill -KILL $second_consumer
MSG
if [ "$BROKER" = kafka ]; then
  cat <<MSG
  Stop one broker and the cluster goes on: the other leads its partitions (at once after kill, within
  broker.session.timeout.ms, 9 s, after kill -KILL):
    kill <pid of a broker>     ($broker_pids)
MSG
fi
cat <<MSG

  Press Ctrl+C to stop.
MSG
wait
