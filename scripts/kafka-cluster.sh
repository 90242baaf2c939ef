#!/usr/bin/env bash
# An Apache Kafka cluster on this machine, as plain Java processes (no Docker): one controller-only node and one
# broker per port, KRaft, the jars from scripts/install-kafka.sh (.tools/kafka/libs). Shaped like the workshop's
# compose cluster: a broker can stop and the cluster goes on, since the quorum lives on the controller alone.
#
#   kafka-cluster.sh prepare DIR CONTROLLER_PORT BROKER_PORT...
#       writes DIR/node-1.properties (the controller, on 127.0.0.1:CONTROLLER_PORT) and DIR/node-2.properties,
#       node-3.properties, ... (one broker per BROKER_PORT, PLAINTEXT on 127.0.0.1:PORT), and formats every node's
#       storage (DIR/data/node-N) with a new cluster id. Anything DIR held from an earlier cluster is wiped.
#   kafka-cluster.sh node DIR N
#       runs node N in the foreground: execs the JVM, so the caller's child pid is the node (kill -9, -STOP).
#       Its log: DIR/logs/node-N/server.log.
#   kafka-cluster.sh tool CLASS ARGS...
#       runs one of Kafka's tools, e.g.
#         tool org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9093 --list
#         tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server 127.0.0.1:9093 \
#           --describe --all-groups
#   kafka-cluster.sh run [--dir DIR] [--controller-port P] [--ports 9093,9094] [--topic NAME:PARTITIONS:RF]...
#                        [--parent PID]
#       prepare + start every node + wait until the brokers serve + create the topics (default first-topic:2:2),
#       print one line, and wait. Ctrl+C, SIGTERM or the end of process PID (--parent) stops every node.
#       It also prints the nodes' pids (kill one broker to see the cluster go on without it). Default DIR: a new
#       temporary directory, removed on exit (the cluster keeps no data); a DIR given stays, with the nodes' logs,
#       until the next run wipes it. Default controller port 19092: 9092 is where any other local Kafka listens
#       first, and the brokers keep 9093 and 9094, the workshop's ports.
#   kafka-cluster.sh train DIR
#       for install-kafka.sh: starts a node, a tool and a format once to record their classes in DIR/*.jsa.
#
# Environment:
#   KAFKA_EXTRA_PROPERTIES             KEY=VALUE pairs (space or newline separated) appended to every broker's
#                                      file by prepare, e.g. "group.min.session.timeout.ms=1000"
#   KAFKA_CONTROLLER_EXTRA_PROPERTIES  the same for the controller's file (e.g. broker.session.timeout.ms)
#   KAFKA_EXTRA_PROPERTIES_FILE        a file appended as it is to every broker's file, after the above: for values
#                                      with spaces (JAAS configurations) and for replacing a setting (Java's
#                                      Properties keeps the last value of a key), e.g. listeners for TLS and SASL
#   KAFKA_FORMAT_ARGS                  more arguments for formatting the controller's storage (space separated),
#                                      e.g. --add-scram SCRAM-SHA-256=[name=alice,password=alice-secret]
#   KAFKA_HEAP, KAFKA_JVM_OPTS         the nodes' JVM flags (defaults below)
set -euo pipefail

ROOT="$(cd "${BASH_SOURCE[0]%/*}/.." && pwd)"
SELF="$ROOT/scripts/kafka-cluster.sh"
LIBS="$ROOT/.tools/kafka/libs"

# Light JVMs, measured on a 2-core machine (README, "An Apache Kafka cluster"): the C1 compiler only
# (TieredStopAtLevel=1) halves a node's start-up CPU, since compiling is most of what a starting JVM does and C1
# compiles quickly (the lower peak speed does not matter at a lab's load); the serial collector (no GC threads
# competing for two cores); a small heap. Kafka's scripts default to 1 GiB; the lab's load fits in far less
# than 384 MiB (the brokers' log cleaner buffer is set to 16 MiB below; Kafka's default 128 MiB would live on
# this heap too). These flags also gave the lowest latency in `make bench` (README, "What make bench
# measured"): C2 compiles for minutes on two cores.
KAFKA_HEAP="${KAFKA_HEAP:--Xms64m -Xmx384m}"
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true}"
TOOL_JVM_OPTS="-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true"

# Class data sharing: install-kafka.sh runs a node, a tool and a format once (`train`) and keeps the classes they
# loaded, parsed and verified, in .tools/kafka/cds/{node,tool,format}.jsa; every later JVM maps them instead of
# loading ~7000 classes from 90 jars again, which halves its start-up again. An archive that does not match (a
# different JDK, jars changed) makes the JVM print a warning and start without it; install-kafka.sh again fixes it.
CDS="$ROOT/.tools/kafka/cds"
cds_flag() { # node | tool | format
  if [ -n "${KAFKA_CDS_DUMP:-}" ]; then
    echo "-XX:ArchiveClassesAtExit=$KAFKA_CDS_DUMP/$1.jsa"
  elif [ -f "$CDS/$1.jsa" ]; then
    echo "-XX:SharedArchiveFile=$CDS/$1.jsa"
  fi
}

die() { echo "kafka-cluster: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//'; exit "${1:-2}"; }

need_libs() {
  command -v java >/dev/null || die "java is missing (Apache Kafka needs Java 17 or newer)"
  compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null \
    || die "Apache Kafka is not installed in .tools/kafka: run scripts/install-kafka.sh (or make tools)"
}

is_port() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }

# Runs a Kafka tool class in this shell's place.
run_tool() {
  need_libs
  # shellcheck disable=SC2086 # the flags are a list
  exec java $TOOL_JVM_OPTS $(cds_flag tool) -Dlog4j2.configurationFile="$ROOT/kafka/tools-log4j2.properties" \
    -cp "$LIBS/*" "$@"
}

# A cluster or directory id as `kafka-storage.sh random-uuid` makes one (16 random bytes, URL-safe base64
# without padding, not starting with '-'), without starting a JVM for it.
random_uuid() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)
    [ "${id:0:1}" != - ] && { echo "$id"; return; }
  done
}

# Appends KEY=VALUE words of $1 (space or newline separated) to file $2.
append_properties() {
  local word
  set -f
  for word in $1; do
    [[ "$word" == ?*=* ]] || { set +f; die "not a KEY=VALUE property: '$word'"; }
    echo "$word" >>"$2"
  done
  set +f
}

cmd_prepare() {
  [ $# -ge 3 ] || die "usage: kafka-cluster.sh prepare DIR CONTROLLER_PORT BROKER_PORT..."
  need_libs
  mkdir -p "$1"
  local dir controller_port brokers rf min_isr n port id i
  dir="$(cd "$1" && pwd)"
  controller_port=$2
  shift 2
  is_port "$controller_port" || die "not a port: '$controller_port'"
  for port in "$@"; do is_port "$port" || die "not a port: '$port'"; done
  brokers=$#
  # Kafka's defaults assume three brokers; with fewer, the internal topics must fit the brokers there are.
  rf=$((brokers < 3 ? brokers : 3))
  # One broker may be down and transactions still commit (min.isr = RF - 1; Kafka's 2 for RF 3).
  min_isr=$((rf > 1 ? rf - 1 : 1))

  rm -rf "$dir/data" "$dir/logs" "$dir"/node-*.properties
  mkdir -p "$dir/data" "$dir/logs"

  # Node 1: the controller. It alone holds the cluster's metadata quorum (one voter: a majority of one), so
  # stopping any broker leaves the cluster able to move leaders and shrink in-sync replicas. A static voter
  # set, as the quorum never changes here (no --standalone or --initial-controllers needed to format).
  cat >"$dir/node-1.properties" <<EOF
# kafka-lab: controller-only node (scripts/kafka-cluster.sh prepare)
process.roles=controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=CONTROLLER://127.0.0.1:$controller_port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT
log.dirs=$dir/data/node-1
EOF
  append_properties "${KAFKA_CONTROLLER_EXTRA_PROPERTIES:-}" "$dir/node-1.properties"

  n=2
  for port in "$@"; do
    cat >"$dir/node-$n.properties" <<EOF
# kafka-lab: broker (scripts/kafka-cluster.sh prepare). Kafka's defaults, except:
process.roles=broker
node.id=$n
controller.quorum.voters=1@127.0.0.1:$controller_port
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data/node-$n
# Consumer groups keep their offsets in __consumer_offsets (default RF 3: with fewer brokers no group can form).
offsets.topic.replication.factor=$rf
# The transaction log likewise; min.isr $min_isr so that one broker down does not stop transactions.
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
# A new group's first member gets its partitions at once instead of after 3 s (Kafka waits for more members
# to join by default): the first join is quicker in a lab and in tests.
group.initial.rebalance.delay.ms=0
# A producer or consumer naming a topic that does not exist gets an error (the producer answers 404) instead
# of the broker silently creating a misspelt topic with 1 partition.
auto.create.topics.enable=false
# The log cleaner (compacted topics) keeps a key → offset map for each pass in a buffer on the JVM heap,
# 128 MiB by default and allocated at start. 16 MiB holds the map for about 600,000 keys per pass, more than a
# lab's compacted topics have, and leaves each broker's heap about 110 MiB smaller.
log.cleaner.dedupe.buffer.size=16777216
EOF
    append_properties "${KAFKA_EXTRA_PROPERTIES:-}" "$dir/node-$n.properties"
    if [ -n "${KAFKA_EXTRA_PROPERTIES_FILE:-}" ]; then
      [ -f "$KAFKA_EXTRA_PROPERTIES_FILE" ] || die "KAFKA_EXTRA_PROPERTIES_FILE: no file $KAFKA_EXTRA_PROPERTIES_FILE"
      cat "$KAFKA_EXTRA_PROPERTIES_FILE" >>"$dir/node-$n.properties"
    fi
    n=$((n + 1))
  done

  # Format the nodes' storage with one new cluster id. The controller's takes Kafka's StorageTool: it writes the
  # cluster's first metadata (the feature levels) in a checksummed file. A broker's is one meta.properties file,
  # which StorageTool would take a JVM and a second of CPU each to write: it is written here, in the same form
  # (install-kafka.sh checks that StorageTool writes a broker nothing else).
  id=$(random_uuid)
  for ((i = 2; i < n; i++)); do write_broker_meta "$dir/data/node-$i" "$i" "$id"; done
  local format_args=()
  read -r -a format_args <<<"${KAFKA_FORMAT_ARGS:-}"
  # shellcheck disable=SC2046
  java $TOOL_JVM_OPTS $(cds_flag format) -Dlog4j2.configurationFile="$ROOT/kafka/tools-log4j2.properties" \
    -cp "$LIBS/*" kafka.tools.StorageTool format --cluster-id "$id" --config "$dir/node-1.properties" \
    "${format_args[@]}" >"$dir/logs/format-node-1.log" 2>&1 || {
    echo "kafka-cluster: formatting the controller's storage failed:" >&2
    sed 's/^/  /' "$dir/logs/format-node-1.log" >&2
    exit 1
  }
}

# What `kafka-storage.sh format` writes into a broker's log directory (DIR, node id, cluster id).
write_broker_meta() {
  mkdir -p "$1"
  printf '#\n#%s\nnode.id=%s\ndirectory.id=%s\nversion=1\ncluster.id=%s\n' "$(date)" "$2" "$(random_uuid)" "$3" \
    >"$1/meta.properties"
}

cmd_node() {
  [ $# -eq 2 ] || die "usage: kafka-cluster.sh node DIR N"
  need_libs
  local dir n
  dir="$(cd "$1" && pwd)" || die "no directory $1"
  n=$2
  [ -f "$dir/node-$n.properties" ] || die "no $dir/node-$n.properties: run kafka-cluster.sh prepare first"
  mkdir -p "$dir/logs/node-$n"
  # shellcheck disable=SC2086
  exec java $KAFKA_HEAP $KAFKA_JVM_OPTS $(cds_flag node) \
    -Dkafka.logs.dir="$dir/logs/node-$n" -Dlog4j2.configurationFile="$ROOT/kafka/log4j2.properties" \
    -cp "$LIBS/*" kafka.Kafka "$dir/node-$n.properties"
}

# SIGTERM to the given pids, SIGKILL to those still alive 15 s later.
stop_nodes() {
  local pid i alive
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    alive=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

now_ms() { date +%s%3N; }

# For install-kafka.sh: runs a combined controller+broker node, a format and a TopicCommand once each, with
# KAFKA_CDS_DUMP set, so each leaves its class-data archive in DIR. Fails if the broker does not start.
cmd_train() {
  [ $# -eq 1 ] || die "usage: kafka-cluster.sh train DIR"
  need_libs
  local out work controller_port broker_port pid i
  mkdir -p "$1"
  out="$(cd "$1" && pwd)"
  work=$(mktemp -d "${TMPDIR:-/tmp}/kafka-lab-train.XXXXXX")
  controller_port=$(free_port)
  broker_port=$(free_port "$controller_port")
  mkdir -p "$work/logs/node-1"
  cat >"$work/node-1.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$broker_port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$broker_port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$work/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
EOF
  export KAFKA_CDS_DUMP="$out"
  # prepare writes a broker's meta.properties itself: check that it is all StorageTool would write.
  local id
  id=$(random_uuid)
  sed -e "s/^process.roles=.*/process.roles=broker/" -e "s/^node.id=.*/node.id=2/" \
    -e "s|^log.dirs=.*|log.dirs=$work/broker-kafka|" -e "s|^listeners=.*|listeners=PLAINTEXT://127.0.0.1:$broker_port|" \
    "$work/node-1.properties" >"$work/broker.properties"
  # shellcheck disable=SC2046
  java $TOOL_JVM_OPTS $(cds_flag format) -Dlog4j2.configurationFile="$ROOT/kafka/tools-log4j2.properties" \
    -cp "$LIBS/*" kafka.tools.StorageTool format --cluster-id "$id" --config "$work/broker.properties" \
    >"$work/logs/format-broker.log" 2>&1 \
    || { cat "$work/logs/format-broker.log" >&2; rm -rf "$work"; die "train: formatting a broker failed"; }
  write_broker_meta "$work/broker-ours" 2 "$id"
  local theirs ours
  theirs=$(meta_shape "$work/broker-kafka")
  ours=$(meta_shape "$work/broker-ours")
  if [ "$theirs" != "$ours" ]; then
    diff <(echo "$theirs") <(echo "$ours") >&2 || true
    rm -rf "$work"
    die "train: StorageTool formats a broker differently from write_broker_meta in kafka-cluster.sh (diff above): update it"
  fi
  # shellcheck disable=SC2046
  java $TOOL_JVM_OPTS $(cds_flag format) -Dlog4j2.configurationFile="$ROOT/kafka/tools-log4j2.properties" \
    -cp "$LIBS/*" kafka.tools.StorageTool format --cluster-id "$(random_uuid)" \
    --config "$work/node-1.properties" >"$work/logs/format.log" 2>&1 \
    || { cat "$work/logs/format.log" >&2; rm -rf "$work"; die "train: formatting a node failed"; }
  bash "$SELF" node "$work" 1 >"$work/logs/node-1.out" 2>&1 </dev/null &
  pid=$!
  for ((i = 0; ; i++)); do
    grep -qs 'Kafka Server started' "$work/logs/node-1/server.log" && break
    if ! kill -0 "$pid" 2>/dev/null || [ "$i" -ge 1200 ]; then
      kill -KILL "$pid" 2>/dev/null || true
      tail -n 20 "$work/logs/node-1/server.log" "$work/logs/node-1.out" >&2 2>/dev/null || true
      rm -rf "$work"
      die "train: a Kafka node did not start within 120 s (its log above)"
    fi
    sleep 0.1
  done
  bash "$SELF" tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$broker_port" --create \
    --topic kafka-lab-train --partitions 2 --replication-factor 1 >"$work/logs/topic.log" 2>&1 \
    || { kill -KILL "$pid"; cat "$work/logs/topic.log" >&2; rm -rf "$work"; die "train: creating a topic failed"; }
  kill -TERM "$pid"
  wait "$pid" || true
  rm -rf "$work"
  for i in node tool format; do
    [ -s "$out/$i.jsa" ] || die "train: the JVM left no $out/$i.jsa"
  done
}

# A formatted log directory's files and meta.properties, without what differs on every format.
meta_shape() {
  (cd "$1" && find . | sort && grep -v '^#' meta.properties | sed 's/^directory.id=.*/directory.id=/' | sort)
}

# A free port on 127.0.0.1 (not among the arguments).
free_port() {
  local port
  while :; do
    port=$((30000 + RANDOM % 30000))
    [[ " $* " == *" $port "* ]] && continue
    port_open "$port" || { echo "$port"; return; }
  done
}

cmd_run() {
  local dir="" own_dir=0 controller_port=19092 ports_csv=9093,9094 parent="" topics=() start
  start=$(now_ms)
  while [ $# -gt 0 ]; do
    case "$1" in
      --dir) dir=${2:?--dir needs a directory}; shift 2 ;;
      --controller-port) controller_port=${2:?--controller-port needs a port}; shift 2 ;;
      --ports) ports_csv=${2:?--ports needs a comma-separated list}; shift 2 ;;
      --topic) topics+=("${2:?--topic needs NAME:PARTITIONS:RF}"); shift 2 ;;
      --parent) parent=${2:?--parent needs a pid}; shift 2 ;;
      -h | --help) usage 0 ;;
      *) die "run: unknown argument '$1' (see kafka-cluster.sh --help)" ;;
    esac
  done
  [ ${#topics[@]} -gt 0 ] || topics=(first-topic:2:2)
  local ports=() port
  IFS=, read -r -a ports <<<"$ports_csv"
  [ ${#ports[@]} -gt 0 ] || die "run: --ports is empty"
  for port in "$controller_port" "${ports[@]}"; do
    is_port "$port" || die "run: not a port: '$port'"
    port_open "$port" && die "run: port $port is already in use (another cluster, make broker or make demo?); stop it first"
  done
  local topic name partitions replicas
  for topic in "${topics[@]}"; do
    IFS=: read -r name partitions replicas <<<"$topic"
    [[ -n "$name" && "$partitions" =~ ^[1-9][0-9]*$ && "$replicas" =~ ^[1-9][0-9]*$ ]] \
      || die "run: --topic $topic is not NAME:PARTITIONS:RF"
    [ "$replicas" -le ${#ports[@]} ] || die "run: --topic $topic: replication factor $replicas, but ${#ports[@]} broker(s)"
  done
  [ -z "$parent" ] || kill -0 "$parent" 2>/dev/null || die "run: --parent $parent is not a running process"

  bash "$ROOT/scripts/install-kafka.sh"
  if [ -z "$dir" ]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/kafka-lab-cluster.XXXXXX")
    own_dir=1
  fi

  local node_pids=() watcher=""
  stop_cluster() {
    trap - EXIT INT TERM
    [ -z "$watcher" ] || kill "$watcher" 2>/dev/null || true
    if [ ${#node_pids[@]} -gt 0 ]; then
      # Brokers first, the controller last: a stopping broker hands its partitions over through the controller.
      # Each gets 15 s to stop cleanly, then SIGKILL.
      stop_nodes "${node_pids[@]:1}"
      stop_nodes "${node_pids[0]}"
    fi
    wait 2>/dev/null || true
    [ "$own_dir" = 0 ] || rm -rf "$dir"
  }
  trap stop_cluster EXIT
  trap 'echo; echo "kafka: stopping"; exit 130' INT
  trap 'exit 143' TERM

  cmd_prepare "$dir" "$controller_port" "${ports[@]}"
  local n
  for ((n = 1; n <= ${#ports[@]} + 1; n++)); do
    # Each node in its own session: Ctrl+C reaches this script only, which then stops the brokers before the
    # controller. setsid does not fork here (a background job is no process group leader), so $! is the JVM.
    setsid bash "$SELF" node "$dir" "$n" >"$dir/logs/node-$n.out" 2>&1 </dev/null &
    node_pids+=($!)
  done
  if [ -n "$parent" ]; then
    (
      while kill -0 "$parent" 2>/dev/null; do sleep 1; done
      kill -TERM $$ 2>/dev/null
    ) </dev/null >/dev/null 2>&1 &
    watcher=$!
  fi

  # Ready when every broker has logged "Kafka Server started" (it has caught up with the cluster's metadata,
  # registered, been unfenced and serves requests; its port accepts connections a few seconds earlier, but they
  # wait), and the topics could be created with their replication factor.
  local bootstrap="" i pid
  for port in "${ports[@]}"; do bootstrap+="${bootstrap:+,}127.0.0.1:$port"; done
  local b=1
  for port in "${ports[@]}"; do
    b=$((b + 1))
    for ((i = 0; ; i++)); do
      port_open "$port" && grep -qs 'Kafka Server started' "$dir/logs/node-$b/server.log" && break
      for n in "${!node_pids[@]}"; do
        kill -0 "${node_pids[$n]}" 2>/dev/null && continue
        echo "kafka-cluster: node $((n + 1)) exited; the end of $dir/logs/node-$((n + 1))/server.log:" >&2
        tail -n 20 "$dir/logs/node-$((n + 1))/server.log" "$dir/logs/node-$((n + 1)).out" >&2 2>/dev/null || true
        exit 1
      done
      [ "$i" -lt 1200 ] || die "broker on port $port did not listen within 120 s; logs in $dir/logs"
      sleep 0.1
    done
  done
  local topic_pids=() described=()
  for topic in "${topics[@]}"; do
    IFS=: read -r name partitions replicas <<<"$topic"
    (
      for ((i = 1; ; i++)); do
        bash "$SELF" tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --create \
          --if-not-exists --topic "$name" --partitions "$partitions" --replication-factor "$replicas" \
          >"$dir/logs/topic-$name.log" 2>&1 && exit 0
        if [ "$i" -ge 20 ]; then
          echo "kafka-cluster: creating topic $name failed:" >&2
          cat "$dir/logs/topic-$name.log" >&2
          exit 1
        fi
        sleep 0.5
      done
    ) &
    topic_pids+=($!)
    described+=("$name ($partitions partition$([ "$partitions" = 1 ] || echo s), RF $replicas)")
  done
  for pid in "${topic_pids[@]}"; do wait "$pid" || exit 1; done
  local ms=$(($(now_ms) - start)) list="" item
  for item in "${described[@]}"; do list+="${list:+; }$item"; done
  printf 'kafka: brokers on %s (controller 127.0.0.1:%s), %s; ready in %d.%d s; Ctrl+C stops it\n' \
    "$bootstrap" "$controller_port" "$list" $((ms / 1000)) $((ms % 1000 / 100))
  local pids_line="kafka: pids: controller ${node_pids[0]}"
  b=0
  for port in "${ports[@]}"; do b=$((b + 1)); pids_line+=", broker $port ${node_pids[$b]}"; done
  echo "$pids_line; logs in $dir/logs"
  # Until a signal arrives (then stop_cluster stops every node) or every node has ended. A broker that ends (kill
  # it to see the cluster go on without it) is reported, and the rest keep running.
  local running=("${!node_pids[@]}")
  local still=() waiting=()
  while [ ${#running[@]} -gt 0 ]; do
    waiting=()
    for n in "${running[@]}"; do waiting+=("${node_pids[$n]}"); done
    wait -n "${waiting[@]}" 2>/dev/null || true
    still=()
    for n in "${running[@]}"; do
      if kill -0 "${node_pids[$n]}" 2>/dev/null; then
        still+=("$n")
      else
        echo "kafka: node $((n + 1)) (pid ${node_pids[$n]}) has exited; the others keep running" \
          "(its log: $dir/logs/node-$((n + 1))/server.log)" >&2
      fi
    done
    running=("${still[@]}")
  done
  exit 1
}

[ $# -ge 1 ] || usage >&2
command=$1
shift
case "$command" in
  prepare) cmd_prepare "$@" ;;
  node) cmd_node "$@" ;;
  tool) [ $# -ge 1 ] || die "usage: kafka-cluster.sh tool CLASS ARGS..."; run_tool "$@" ;;
  run) cmd_run "$@" ;;
  train) cmd_train "$@" ;;
  -h | --help | help) usage 0 ;;
  *) die "unknown command '$command' (prepare, node, tool, run; --help)" ;;
esac
