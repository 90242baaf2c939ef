/*
 * JavaMember: the Java client (kafka-clients' KafkaConsumer) as a member of a consumer group, for the
 * interoperability tests. The Rust test starts it next to a kafka-lab consumer in one group and checks that
 * the two split the topic's partitions and that each receives exactly its own partition's events; whichever
 * of the two joins first is the group's leader and computes the assignment for both.
 *
 * It prints JSON lines on stdout, the same protocol as aiokafka_member.py and librdkafka_member.py:
 *   {"assignment": [0, 1]}                       whenever its set of partitions changes (first: [])
 *   {"partition": 0, "offset": 5, "key": "k5", "headers": {"source": "java"}, "value": {"id": 5}}
 *                                                 for every message (value: the message parsed as JSON, or
 *                                                 the raw text when it is not JSON; key: null when absent)
 * Everything else (the client's own logging) goes to stderr. SIGTERM or SIGINT: stop polling, commit the
 * positions, leave the group (KafkaConsumer.close()), exit.
 *
 * Environment:
 *   KAFKA_BOOTSTRAP_SERVERS  required, e.g. 127.0.0.1:9093
 *   KAFKA_TOPIC              default first-topic
 *   CONSUMER_GROUP           required
 *   GROUP_PROTOCOL           classic (default) or consumer (KIP-848: the broker assigns; the session timeout
 *                            and heartbeat interval are then the broker's, so they are not set here)
 *   SESSION_TIMEOUT_MS       default 6000, Apache Kafka's smallest allowed (group.min.session.timeout.ms)
 *   ISOLATION_LEVEL          read_uncommitted (the Java client's default: records of aborted transactions
 *                            are shown too) or read_committed (librdkafka's default: they are skipped)
 *
 * Build and run (scripts/build-java-peers.sh compiles every tests/interop/*.java into target/java-peers):
 *   java -cp 'target/java-peers:.tools/kafka/libs/*' JavaMember
 * kafka-clients is all it needs for Kafka; Jackson (on the same class path, the broker needs it too) writes
 * the JSON.
 */

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public final class JavaMember {
    private static final ObjectMapper JSON = new ObjectMapper();

    public static void main(String[] args) throws Exception {
        String bootstrap = required("KAFKA_BOOTSTRAP_SERVERS");
        String group = required("CONSUMER_GROUP");
        String topic = env("KAFKA_TOPIC", "first-topic");
        String protocol = env("GROUP_PROTOCOL", "classic");

        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        config.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        config.put(ConsumerConfig.CLIENT_ID_CONFIG, "java-member");
        config.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "true");
        config.put(ConsumerConfig.AUTO_COMMIT_INTERVAL_MS_CONFIG, "500");
        config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, env("ISOLATION_LEVEL", "read_uncommitted"));
        if (protocol.equals("classic")) {
            // Classic protocol: the member chooses its session and heartbeat. (With group.protocol=consumer
            // the client refuses these settings: the broker decides them.) The assignor stays the client's
            // default, partition.assignment.strategy = [range, cooperative-sticky].
            config.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, env("SESSION_TIMEOUT_MS", "6000"));
            config.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500");
        }
        // Raw bytes in, so a key or value that is not UTF-8 or not JSON is still shown rather than fatal.
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());

        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(config);

        // On SIGTERM/SIGINT the JVM runs its shutdown hooks. wakeup() is the one KafkaConsumer method that is
        // safe from another thread: it makes the main thread's poll() throw WakeupException. The hook then
        // waits for main to close the consumer, since the JVM exits as soon as the hooks return.
        Thread mainThread = Thread.currentThread();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            consumer.wakeup();
            try {
                mainThread.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }));

        try {
            consumer.subscribe(List.of(topic));
            List<Integer> last = null;
            while (true) {
                var records = consumer.poll(Duration.ofMillis(100));
                // A rebalance happens inside poll(), so checking after each poll sees every change.
                List<Integer> assignment = consumer.assignment().stream()
                        .map(tp -> tp.partition())
                        .sorted()
                        .collect(Collectors.toList());
                if (!assignment.equals(last)) {
                    ObjectNode line = JSON.createObjectNode();
                    assignment.forEach(line.putArray("assignment")::add);
                    say(line);
                    last = assignment;
                }
                for (ConsumerRecord<byte[], byte[]> record : records) {
                    say(describe(record));
                }
            }
        } catch (WakeupException stopping) {
            // The shutdown hook asked us to stop.
        } finally {
            // With auto-commit on, close() commits the positions of what poll() returned, then leaves the group
            // (LeaveGroup, or a heartbeat with epoch -1 under the consumer protocol) so the rest of the group
            // takes over at once instead of after a session timeout.
            consumer.close();
        }
    }

    /** One message as a JSON line: partition, offset, key, headers and value. */
    private static ObjectNode describe(ConsumerRecord<byte[], byte[]> record) {
        ObjectNode line = JSON.createObjectNode();
        line.put("partition", record.partition());
        line.put("offset", record.offset());
        line.put("key", record.key() == null ? null : text(record.key()));
        ObjectNode headers = line.putObject("headers");
        for (Header header : record.headers()) {
            headers.put(header.key(), header.value() == null ? null : text(header.value()));
        }
        line.set("value", parse(record.value()));
        return line;
    }

    /** The value as JSON, or as a JSON string of its text when it is not JSON (null for a tombstone). */
    private static JsonNode parse(byte[] value) {
        if (value == null) {
            return JSON.nullNode();
        }
        try {
            return JSON.readTree(value);
        } catch (Exception notJson) {
            return JSON.getNodeFactory().textNode(text(value));
        }
    }

    private static String text(byte[] bytes) {
        return new String(bytes, StandardCharsets.UTF_8);
    }

    /** Prints one JSON line and flushes it, so the test reading the file sees it at once. */
    private static void say(JsonNode line) throws Exception {
        System.out.println(JSON.writeValueAsString(line));
        System.out.flush();
    }

    private static String env(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isEmpty() ? fallback : value;
    }

    private static String required(String name) {
        String value = env(name, null);
        if (value == null) {
            System.err.println("JavaMember: " + name + " is required");
            System.exit(2);
        }
        return value;
    }
}
