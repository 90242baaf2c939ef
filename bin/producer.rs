//! The kafka-lab producer: `POST /` a JSON object and it becomes a Kafka event. Serves the lab page.

use std::process::ExitCode;

use kafka_lab::cli::{self, Binary};
use kafka_lab::config::{ProducerConfig, PRODUCER_VARS};

fn main() -> ExitCode {
    let binary = Binary {
        name: "producer",
        summary: "HTTP to Kafka: POST / a JSON object to produce it; GET / for the lab page.",
        vars: PRODUCER_VARS,
        default_port: 5000,
    };
    cli::main(binary, ProducerConfig::from_env, kafka_lab::producer_api::run)
}
