use super::*;

fn vars(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<Vec<_>>()
        .into_iter()
}

#[test]
fn bootstrap_list_tolerates_spaces() {
    let servers = parse_bootstrap(" localhost:9093 , localhost:9094").unwrap();
    assert_eq!(servers, ["localhost:9093", "localhost:9094"]);
}

#[test]
fn bootstrap_list_rejects_empty_entries_and_missing_ports() {
    for bad in ["", "localhost:9093,", "localhost", "localhost:x", ":9093", "a:0"] {
        let error = parse_bootstrap(bad).unwrap_err().to_string();
        assert!(error.starts_with("KAFKA_BOOTSTRAP_SERVERS"), "{bad}: {error}");
    }
}

#[test]
fn producer_defaults() {
    let config = ProducerConfig::from_vars(vars(&[("KAFKA_BOOTSTRAP_SERVERS", "h:1")])).unwrap();
    assert_eq!(config.topic, "first-topic");
    assert_eq!(config.port, 5000);
    assert_eq!(config.host.to_string(), "127.0.0.1");
    assert_eq!(config.request_timeout, Duration::from_millis(5000));
    let error = ProducerConfig::from_vars(vars(&[("KAFKA_BOOTSTRAP_SERVERS", "h:1"), ("REQUEST_TIMEOUT_MS", "5")]))
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("REQUEST_TIMEOUT_MS"), "{error}");
}

#[test]
fn missing_variable_is_named() {
    let error = ProducerConfig::from_vars(vars(&[])).unwrap_err().to_string();
    assert!(error.starts_with("KAFKA_BOOTSTRAP_SERVERS is not set"), "{error}");
    let error = ConsumerConfig::from_vars(vars(&[("KAFKA_BOOTSTRAP_SERVERS", "h:1")]))
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("CONSUMER_GROUP is not set"), "{error}");
}

#[test]
fn malformed_values_are_named() {
    let base = [("KAFKA_BOOTSTRAP_SERVERS", "h:1"), ("CONSUMER_GROUP", "g")];
    for (var, value) in [
        ("PORT", "http"),
        ("HOST", "localhost:80"),
        ("AUTO_OFFSET_RESET", "newest"),
        ("SESSION_TIMEOUT_MS", "10"),
        ("FETCH_MAX_WAIT_MS", "0"),
        ("MAX_POLL_INTERVAL_MS", "999"),
        ("GROUP_INSTANCE_ID", ""),
        ("GROUP_INSTANCE_ID", "a b"),
        ("MAX_RETAINED_BYTES", "64MiB"),
        ("MAX_RETAINED_BYTES", "100"),
        ("FETCH_MIN_BYTES", "0"),
        ("FETCH_MAX_BYTES", "100"),
    ] {
        let mut pairs = base.to_vec();
        pairs.push((var, value));
        let error = ConsumerConfig::from_vars(vars(&pairs)).unwrap_err().to_string();
        assert!(error.starts_with(var), "{var}={value}: {error}");
    }
}

#[test]
fn heartbeat_defaults_to_a_tenth_of_the_session() {
    let config = ConsumerConfig::from_vars(vars(&[
        ("KAFKA_BOOTSTRAP_SERVERS", "h:1"),
        ("CONSUMER_GROUP", "g"),
        ("SESSION_TIMEOUT_MS", "6000"),
    ]))
    .unwrap();
    assert_eq!(config.heartbeat_interval, Duration::from_millis(600));
    assert_eq!(config.offset_reset, OffsetReset::Latest);
    assert_eq!(config.max_retained_bytes, 64 * 1024 * 1024);
    assert_eq!((config.fetch_min_bytes, config.fetch_max_bytes), (1, 512 * 1024));
}

#[test]
fn static_membership_and_the_rebalance_timeout() {
    let base = [("KAFKA_BOOTSTRAP_SERVERS", "h:1"), ("CONSUMER_GROUP", "g")];
    let config = ConsumerConfig::from_vars(vars(&base)).unwrap();
    assert_eq!(config.group_instance_id, None);
    assert_eq!(config.max_poll_interval, Duration::from_millis(300_000));
    let mut pairs = base.to_vec();
    pairs.extend([("GROUP_INSTANCE_ID", " consumer-1 "), ("MAX_POLL_INTERVAL_MS", "60000")]);
    let config = ConsumerConfig::from_vars(vars(&pairs)).unwrap();
    assert_eq!(config.group_instance_id.as_deref(), Some("consumer-1"));
    assert_eq!(config.max_poll_interval, Duration::from_millis(60_000));
}
