"""A librdkafka consumer (through the confluent-kafka wheel, which bundles librdkafka) as a member of a
consumer group, for the interoperability tests. The Rust test starts it next to a kafka-lab consumer in one
group and checks that the two split the topic's partitions and that each receives exactly its own
partition's events; whichever joins first is the group's leader and computes the assignment for both.

librdkafka is the C client under confluent-kafka (Python), kcat, node-rdkafka, confluent-kafka-go and
.NET, so it is the client most non-Java services run.

It prints JSON lines on stdout, the same protocol as aiokafka_member.py and JavaMember.java:
  {"assignment": [0, 1]}   whenever its set of partitions changes (first: [])
  {"partition": 0, "offset": 5, "key": "k5", "headers": {"source": "java"}, "value": {"id": 5}}
                           for every message (value: parsed as JSON, or the raw text when it is not JSON)
librdkafka's own logs go to stderr. SIGTERM or SIGINT: stop polling, commit, leave the group, exit 0.

Environment:
  KAFKA_BOOTSTRAP_SERVERS  required
  KAFKA_TOPIC              default first-topic
  CONSUMER_GROUP           required
  GROUP_PROTOCOL           classic (default) or consumer (KIP-848: the broker assigns and sets the session
                           timeout and heartbeat, so those are not set here)
  SESSION_TIMEOUT_MS       default 6000, Apache Kafka's smallest allowed (group.min.session.timeout.ms)
  ISOLATION_LEVEL          read_committed (librdkafka's default: records of aborted transactions are skipped)
                           or read_uncommitted (the Java client's default: they are shown too)

Run: PYTHONPATH=.tools/python python3 tests/interop/librdkafka_member.py
(scripts/install-python-peers.sh installs confluent-kafka there.)

The assignor is librdkafka's default: with the classic protocol, partition.assignment.strategy is
"range,roundrobin", so it offers both, range first; the group uses one that every member offers.
"""
import json
import os
import signal
import sys

from confluent_kafka import Consumer


def say(obj):
    print(json.dumps(obj), flush=True)


def text(data):
    return None if data is None else data.decode("utf-8", errors="replace")


def value_of(data):
    """The message value as JSON, or its text when it is not JSON (None for a tombstone)."""
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return text(data)


def main():
    protocol = os.environ.get("GROUP_PROTOCOL") or "classic"
    config = {
        "bootstrap.servers": os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        "group.id": os.environ["CONSUMER_GROUP"],
        "client.id": "librdkafka-member",
        "group.protocol": protocol,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
        "auto.commit.interval.ms": 500,
        "isolation.level": os.environ.get("ISOLATION_LEVEL") or "read_committed",
    }
    if protocol == "classic":
        # Under the consumer protocol (KIP-848) the broker decides these; librdkafka refuses them there.
        config["session.timeout.ms"] = int(os.environ.get("SESSION_TIMEOUT_MS") or 6000)
        config["heartbeat.interval.ms"] = 500
    consumer = Consumer(config)

    # The handler only raises a flag: the loop below notices it within one poll (0.1 s).
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))

    consumer.subscribe([os.environ.get("KAFKA_TOPIC") or "first-topic"])
    last = None
    try:
        while not stopping:
            message = consumer.poll(0.1)
            # librdkafka rebalances in the background and applies the new assignment during poll(), so
            # checking after each poll sees every change.
            assignment = sorted(tp.partition for tp in consumer.assignment())
            if assignment != last:
                say({"assignment": assignment})
                last = assignment
            if message is None:
                continue
            if message.error():
                print(f"librdkafka_member: {message.error()}", file=sys.stderr, flush=True)
                continue
            say({
                "partition": message.partition(),
                "offset": message.offset(),
                "key": text(message.key()),
                "headers": {k: text(v) for k, v in (message.headers() or [])},
                "value": value_of(message.value()),
            })
    finally:
        # With auto-commit on, close() commits the offsets of the messages poll() returned, then leaves the
        # group so the rest of it takes over at once instead of after a session timeout.
        consumer.close()


main()
