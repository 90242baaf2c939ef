"""An aiokafka consumer for the interoperability tests: joins a group and prints, one JSON line each,
its assignment whenever it changes and every message it receives. Stops on SIGTERM or SIGINT."""
import asyncio
import json
import os
import signal

from aiokafka import AIOKafkaConsumer


def say(obj):
    print(json.dumps(obj), flush=True)


async def main():
    consumer = AIOKafkaConsumer(
        os.environ["KAFKA_TOPIC"],
        bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        group_id=os.environ["CONSUMER_GROUP"],
        auto_offset_reset="earliest",
        # Apache Kafka refuses sessions under 6 s (group.min.session.timeout.ms); Tansu takes 3 s.
        session_timeout_ms=int(os.environ.get("SESSION_TIMEOUT_MS", "6000")),
        heartbeat_interval_ms=300,
        auto_commit_interval_ms=500,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await consumer.start()
    last = None
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100)
            assignment = sorted(tp.partition for tp in consumer.assignment())
            if assignment != last:
                say({"assignment": assignment})
                last = assignment
            for tp, messages in batch.items():
                for message in messages:
                    say({"partition": tp.partition, "offset": message.offset, "value": json.loads(message.value)})
    finally:
        await consumer.stop()


asyncio.run(main())
