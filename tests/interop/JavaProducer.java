/*
 * JavaProducer: writes records the way the Java client (kafka-clients' KafkaProducer) writes them, for the
 * "records written by others" tests. kafka-lab's own producer writes plain, uncompressed batches; real
 * topics also hold batches compressed with any of Kafka's codecs and transactional batches followed by a
 * control record (a commit or abort marker), and a consumer must cope with all of them. The Rust test runs
 * this once per case, then starts a kafka-lab consumer on the partition and checks what it shows.
 *
 * Usage:
 *   java -cp 'target/java-peers:.tools/kafka/libs/*' JavaProducer \
 *        BOOTSTRAP TOPIC PARTITION COUNT FIRST_ID [COMPRESSION [MODE]]
 *   COMPRESSION  none (default) | gzip | snappy | lz4 | zstd
 *   MODE         plain (default)
 *                transactional-commit  the records in one transaction, committed: visible to every consumer,
 *                                      followed in the log by a COMMIT control record
 *                transactional-abort   the records in one transaction, aborted: the batch stays in the log,
 *                                      followed by an ABORT control record; a read_committed consumer skips
 *                                      it, a read_uncommitted one (rskafka, kafka-lab) sees it
 *
 * Record i (i = FIRST_ID .. FIRST_ID + COUNT - 1): key "k<i>", headers "source: java" and
 * "compression: <COMPRESSION>", value {"id": i}, all to PARTITION. They are sent together so they share one
 * batch (linger.ms): a compressed batch holds several records, as it does in production.
 *
 * At the end it prints one JSON line on stdout and exits 0:
 *   {"written": COUNT, "first_offset": o, "last_offset": o2}
 * (offsets of the first and last record, from the broker's acknowledgements; in the transactional modes the
 * control record sits at last_offset + 1, so the partition's end offset is last_offset + 2). Any failure
 * prints the exception on stderr and exits 1; bad arguments exit 2. Client logging goes to stderr.
 */

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;

public final class JavaProducer {
    private static final List<String> CODECS = List.of("none", "gzip", "snappy", "lz4", "zstd");
    private static final List<String> MODES = List.of("plain", "transactional-commit", "transactional-abort");

    public static void main(String[] args) throws Exception {
        if (args.length < 5 || args.length > 7) {
            usage("expected 5 to 7 arguments, got " + args.length);
        }
        String bootstrap = args[0];
        String topic = args[1];
        int partition = number(args[2], "PARTITION");
        int count = number(args[3], "COUNT");
        int firstId = number(args[4], "FIRST_ID");
        String compression = args.length > 5 ? args[5] : "none";
        String mode = args.length > 6 ? args[6] : "plain";
        if (!CODECS.contains(compression)) {
            usage("COMPRESSION must be one of " + CODECS);
        }
        if (!MODES.contains(mode)) {
            usage("MODE must be one of " + MODES);
        }
        if (count < 1) {
            usage("COUNT must be at least 1");
        }
        boolean transactional = !mode.equals("plain");

        Properties config = new Properties();
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        config.put(ProducerConfig.CLIENT_ID_CONFIG, "java-producer");
        config.put(ProducerConfig.ACKS_CONFIG, "all");
        config.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, compression);
        // Wait up to 100 ms for more records before sending a batch: all COUNT records go out as one batch.
        config.put(ProducerConfig.LINGER_MS_CONFIG, "100");
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        if (transactional) {
            // A transactional id names the producer across restarts; a fresh one per run keeps runs independent.
            config.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "kafka-lab-java-producer-" + UUID.randomUUID());
        }

        try (KafkaProducer<String, String> producer = new KafkaProducer<>(config)) {
            if (transactional) {
                producer.initTransactions(); // registers the id with the transaction coordinator
                producer.beginTransaction();
            }
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            for (int id = firstId; id < firstId + count; id++) {
                ProducerRecord<String, String> record =
                        new ProducerRecord<>(topic, partition, "k" + id, "{\"id\": " + id + "}");
                record.headers().add("source", bytes("java"));
                record.headers().add("compression", bytes(compression));
                acks.add(producer.send(record));
            }
            // flush() sends the batch and waits for the broker's acknowledgements, so every Future below is
            // done; in a transaction the records are then in the log but not yet committed or aborted.
            producer.flush();
            long firstOffset = acks.get(0).get().offset();
            long lastOffset = acks.get(acks.size() - 1).get().offset();
            if (mode.equals("transactional-commit")) {
                producer.commitTransaction(); // writes a COMMIT marker after the records
            } else if (mode.equals("transactional-abort")) {
                producer.abortTransaction(); // writes an ABORT marker; the records stay in the log
            }
            System.out.println("{\"written\": " + count + ", \"first_offset\": " + firstOffset
                    + ", \"last_offset\": " + lastOffset + "}");
            System.out.flush();
        } catch (Exception e) {
            e.printStackTrace();
            System.exit(1);
        }
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static int number(String text, String name) {
        try {
            return Integer.parseInt(text);
        } catch (NumberFormatException e) {
            usage(name + " must be a number, got " + text);
            return 0;
        }
    }

    private static void usage(String problem) {
        System.err.println("JavaProducer: " + problem);
        System.err.println("usage: JavaProducer BOOTSTRAP TOPIC PARTITION COUNT FIRST_ID"
                + " [none|gzip|snappy|lz4|zstd [plain|transactional-commit|transactional-abort]]");
        System.exit(2);
    }
}
