//! The environment variables each binary reads, with their defaults, the form each expects and what it means:
//! the one list `--help` prints, and the names [`super`] checks the values under.

use std::fmt::Write as _;

use super::SECURITY_VARS;

/// One environment variable: its name, its default (if it has one) and what it means.
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    pub name: &'static str,
    pub default: Option<&'static str>,
    pub expects: &'static str,
    pub help: &'static str,
}

pub(super) const BOOTSTRAP: EnvVar = EnvVar {
    name: "KAFKA_BOOTSTRAP_SERVERS",
    default: None,
    expects: "a comma-separated list of host:port, e.g. localhost:9093,localhost:9094",
    help: "Brokers to bootstrap from; any one reachable broker is enough.",
};
const TOPIC: EnvVar = EnvVar {
    name: "KAFKA_TOPIC",
    default: Some("first-topic"),
    expects: "a topic name",
    help: "The topic to use.",
};
pub(super) const HOST: EnvVar = EnvVar {
    name: "HOST",
    default: Some("127.0.0.1"),
    expects: "an IP address to listen on, e.g. 0.0.0.0",
    help: "Address the HTTP server listens on (a container sets 0.0.0.0).",
};
const RUST_LOG: EnvVar = EnvVar {
    name: "RUST_LOG",
    default: Some("info"),
    expects: "a tracing filter, e.g. info or kafka_lab=debug",
    help: "Log level filter.",
};

/// The producer's variables, in the order `producer --help` lists them.
pub const PRODUCER_VARS: &[EnvVar] = &[
    BOOTSTRAP,
    EnvVar {
        help: "Topic for events whose body has no \"topic\" field.",
        ..TOPIC
    },
    EnvVar {
        name: "PORT",
        default: Some("5000"),
        expects: "a TCP port number",
        help: "HTTP port of the producer and the lab page.",
    },
    HOST,
    EnvVar {
        name: "REQUEST_TIMEOUT_MS",
        default: Some("5000"),
        expects: "milliseconds, 100 to 120000",
        help: "How long one POST / may take, connecting included; then 503 (not sent) or 504 (sent, not acknowledged).",
    },
    RUST_LOG,
];

/// The consumer's variables, in the order `consumer --help` lists them.
pub const CONSUMER_VARS: &[EnvVar] = &[
    BOOTSTRAP,
    TOPIC,
    EnvVar {
        name: "CONSUMER_GROUP",
        default: None,
        expects: "a consumer group id, e.g. first-group",
        help: "The consumer group to join; consumers sharing it split the topic's partitions.",
    },
    EnvVar {
        name: "PORT",
        default: Some("8000"),
        expects: "a TCP port number",
        help: "HTTP port of this consumer.",
    },
    HOST,
    EnvVar {
        name: "AUTO_OFFSET_RESET",
        default: Some("latest"),
        expects: "latest or earliest",
        help: "Where a group with no committed offset starts reading.",
    },
    EnvVar {
        name: "SESSION_TIMEOUT_MS",
        default: Some("10000"),
        expects: "milliseconds, 1000 or more",
        help: "How long the coordinator waits for a heartbeat before it removes this member.",
    },
    EnvVar {
        name: "MAX_POLL_INTERVAL_MS",
        default: Some("300000"),
        expects: "milliseconds, 1000 to 2147483647",
        help: "The rebalance timeout: how long the coordinator waits for every member to rejoin in a rebalance.",
    },
    EnvVar {
        name: "GROUP_INSTANCE_ID",
        default: Some("none: a dynamic member"),
        expects: "up to 249 letters, digits, '.', '_' or '-', unique within the group",
        help: "Makes this consumer a static member (KIP-345): restarted within the session timeout, it gets its \
               partitions back without a rebalance; it does not leave the group when stopped.",
    },
    EnvVar {
        name: "GROUP_PROTOCOL",
        default: Some("classic"),
        expects: "classic or consumer",
        help: "The group protocol: classic (the members' leader assigns, every rebalance pauses the group) or \
               consumer (KIP-848, Apache Kafka 4.0+: the broker assigns, only moved partitions pause; the \
               broker's session timeout and heartbeat interval apply).",
    },
    EnvVar {
        name: "GROUP_REMOTE_ASSIGNOR",
        default: Some("the broker's default"),
        expects: "uniform or range",
        help: "With GROUP_PROTOCOL=consumer: the broker-side assignor to use (Java's group.remote.assignor).",
    },
    EnvVar {
        name: "HEARTBEAT_INTERVAL_MS",
        default: Some("session timeout / 10"),
        expects: "milliseconds, less than SESSION_TIMEOUT_MS",
        help: "How often this member tells the coordinator it is alive.",
    },
    EnvVar {
        name: "AUTO_COMMIT_INTERVAL_MS",
        default: Some("1000"),
        expects: "milliseconds, 1 or more",
        help: "How often consumed positions are committed (also on every rebalance and shutdown).",
    },
    EnvVar {
        name: "FETCH_MAX_WAIT_MS",
        default: Some("20"),
        expects: "milliseconds, 1 to 10000",
        help: "How long the broker may hold a fetch while waiting for new events.",
    },
    EnvVar {
        name: "FETCH_MIN_BYTES",
        default: Some("1"),
        expects: "bytes, 1 to 1048576",
        help: "How much new data a fetch waits for (up to FETCH_MAX_WAIT_MS) before the broker answers.",
    },
    EnvVar {
        name: "FETCH_MAX_BYTES",
        default: Some("524288"),
        expects: "bytes, 1024 to 67108864",
        help: "The most data one fetch of one partition returns.",
    },
    EnvVar {
        name: "MAX_RETAINED_EVENTS",
        default: Some("10000"),
        expects: "a count, 1 or more",
        help: "Consumed events kept for GET / and GET /events; older ones are dropped.",
    },
    EnvVar {
        name: "MAX_RETAINED_BYTES",
        default: Some("67108864 (64 MiB)"),
        expects: "bytes, 65536 to 17179869184 (16 GiB)",
        help: "The most bytes of events kept (an event weighs about its message's size).",
    },
    RUST_LOG,
];

/// Renders the `--help` text of a binary: what it does, then one paragraph per variable, its own and then the
/// security variables.
pub fn help_text(binary: &str, summary: &str, vars: &[EnvVar]) -> String {
    let mut text = format!("{binary}: {summary}\n\nConfigured by environment variables:\n");
    describe_vars(&mut text, vars);
    text.push_str("\nConnecting to a secured cluster (TLS, SASL):\n");
    describe_vars(&mut text, &SECURITY_VARS);
    text
}

fn describe_vars(text: &mut String, vars: &[EnvVar]) {
    for var in vars {
        let default = var.default.map_or("required".to_string(), |d| format!("default: {d}"));
        let _ = writeln!(
            text,
            "  {:<26} {} ({default})\n  {:<26} expects {}",
            var.name, var.help, "", var.expects
        );
    }
}
