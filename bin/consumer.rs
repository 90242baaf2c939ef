//! The kafka-lab consumer: joins a consumer group, consumes the topic, and serves what it received.

use std::process::ExitCode;

use kafka_lab::cli::{self, Binary};
use kafka_lab::config::{ConsumerConfig, CONSUMER_VARS};

fn main() -> ExitCode {
    let binary = Binary {
        name: "consumer",
        summary: "Kafka to HTTP: consume a topic in a consumer group; GET / for new events, /status for the group.",
        vars: CONSUMER_VARS,
        default_port: 8000,
    };
    cli::main(binary, ConsumerConfig::from_env, kafka_lab::consumer::run)
}
