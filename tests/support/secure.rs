//! A secured Apache Kafka cluster for `tests/security.rs`: a controller and one broker with a listener for
//! each way a client can connect, the certificates made by `scripts/test-certificates.sh` (openssl), the SASL
//! users created at format time (SCRAM) or named in the broker's JAAS configuration (PLAIN), and ACLs for the
//! authorization failures. One per test binary, shared by its tests.
//!
//! | listener         | protocol         | what it tests                                            |
//! |------------------|------------------|----------------------------------------------------------|
//! | `PLAINTEXT`      | PLAINTEXT        | the broker's own traffic and the tests' admin (a super user) |
//! | `SSL`            | SSL              | TLS; a plaintext client on a TLS port                    |
//! | `MTLS`           | SSL              | mutual TLS (client certificate required)                 |
//! | `SASL_PLAINTEXT` | SASL_PLAINTEXT   | SCRAM-SHA-256, SCRAM-SHA-512, PLAIN without TLS; ACLs     |
//! | `SASL_SSL`       | SASL_SSL         | the same inside TLS (what hosted clusters use)           |
//! | `WRONG_NAME`     | SSL              | a certificate for another host name                       |
//! | `EXPIRED`        | SSL              | an expired certificate                                    |
//! | `REAUTH`         | SASL_PLAINTEXT   | SASL sessions of 3 s: re-authentication (KIP-368)          |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use super::kafka::{run_tool, KafkaCluster, Setup};

/// Listener name → security protocol.
const LISTENERS: [(&str, &str); 8] = [
    ("PLAINTEXT", "PLAINTEXT"),
    ("SSL", "SSL"),
    ("MTLS", "SSL"),
    ("SASL_PLAINTEXT", "SASL_PLAINTEXT"),
    ("SASL_SSL", "SASL_SSL"),
    ("WRONG_NAME", "SSL"),
    ("EXPIRED", "SSL"),
    ("REAUTH", "SASL_PLAINTEXT"),
];

/// SCRAM users (mechanism, name, password); `mallory` is the one the ACLs deny.
pub const SCRAM_USERS: [(&str, &str, &str); 3] = [
    ("SCRAM-SHA-256", "alice", "alice-secret"),
    ("SCRAM-SHA-512", "bob", "bob-secret"),
    ("SCRAM-SHA-256", "mallory", "mallory-secret"),
];
/// The PLAIN user, in the broker's JAAS configuration.
pub const PLAIN_USER: (&str, &str) = ("carol", "carol-secret");
/// What the ACLs deny `mallory`: reading and writing this topic, and this group.
pub const DENIED_TOPIC: &str = "denied-topic";
pub const DENIED_GROUP: &str = "denied-group";
/// The SASL session lifetime on the `REAUTH` listener.
pub const REAUTH_MS: u64 = 3000;

pub struct SecureKafka {
    pub cluster: KafkaCluster,
    pub certificates: PathBuf,
    ports: BTreeMap<&'static str, u16>,
}

impl SecureKafka {
    /// The cluster this test binary shares, started on first use.
    pub fn shared() -> &'static SecureKafka {
        static SHARED: OnceLock<SecureKafka> = OnceLock::new();
        SHARED.get_or_init(SecureKafka::start)
    }

    fn start() -> Self {
        let ports: BTreeMap<&str, u16> = LISTENERS.iter().map(|(name, _)| (*name, super::free_port())).collect();
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let dir = root.join(format!("target/test-kafka/secure-{}", std::process::id()));
        let certificates = dir.join("certificates");
        let status = Command::new("bash")
            .arg(root.join("scripts/test-certificates.sh"))
            .arg(&certificates)
            .status()
            .expect("running scripts/test-certificates.sh");
        assert!(status.success(), "making the test certificates failed ({status})");
        let properties = dir.join("secure.properties");
        std::fs::write(&properties, broker_properties(&ports, &certificates)).expect("writing secure.properties");

        let scram: Vec<String> = SCRAM_USERS
            .iter()
            .map(|(mechanism, name, password)| format!("--add-scram {mechanism}=[name={name},password={password}]"))
            .collect();
        let cluster = KafkaCluster::start_with(Setup {
            broker_ports: vec![ports["PLAINTEXT"]],
            env: vec![
                ("KAFKA_EXTRA_PROPERTIES_FILE".into(), properties.display().to_string()),
                (
                    "KAFKA_CONTROLLER_EXTRA_PROPERTIES".into(),
                    AUTHORIZER.replace('\n', " "),
                ),
                ("KAFKA_FORMAT_ARGS".into(), scram.join(" ")),
            ],
        });
        let secure = Self {
            cluster,
            certificates,
            ports,
        };
        secure.deny_mallory();
        secure
    }

    /// `127.0.0.1:PORT` of a listener.
    pub fn address(&self, listener: &str) -> String {
        format!("127.0.0.1:{}", self.ports[listener])
    }

    /// The path of one of `scripts/test-certificates.sh`'s files.
    pub fn file(&self, name: &str) -> String {
        self.certificates.join(name).display().to_string()
    }

    /// ACLs: `mallory` may neither read nor write [`DENIED_TOPIC`] (everyone may still see it), nor use
    /// [`DENIED_GROUP`]. Added through the PLAINTEXT listener, whose ANONYMOUS user is a super user.
    fn deny_mallory(&self) {
        let bootstrap = self.address("PLAINTEXT");
        let acl = |args: &[&str]| {
            let mut all = vec!["--bootstrap-server", &bootstrap, "--add"];
            all.extend_from_slice(args);
            run_tool("org.apache.kafka.tools.AclCommand", &all);
        };
        let deny = ["--deny-principal", "User:mallory", "--operation", "Read"];
        // Three JVMs side by side: each takes a couple of seconds to start.
        std::thread::scope(|scope| {
            scope.spawn(|| acl(&[&deny[..], &["--group", DENIED_GROUP]].concat()));
            scope.spawn(|| acl(&[&deny[..], &["--operation", "Write", "--topic", DENIED_TOPIC]].concat()));
            scope.spawn(|| {
                acl(&[
                    "--allow-principal",
                    "User:*",
                    "--operation",
                    "Describe",
                    "--topic",
                    DENIED_TOPIC,
                ])
            });
        });
    }
}

/// The authorizer, on the controller and the broker: ANONYMOUS (the PLAINTEXT listener, the broker's own
/// traffic) is a super user; resources without ACLs are open to everyone.
const AUTHORIZER: &str = "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=true";

/// The broker's listeners, TLS and SASL settings, appended to its properties by `kafka-cluster.sh prepare`.
fn broker_properties(ports: &BTreeMap<&str, u16>, certificates: &std::path::Path) -> String {
    let file = |name: &str| certificates.join(name).display().to_string();
    let listeners: Vec<String> = LISTENERS
        .iter()
        .map(|(name, _)| format!("{name}://127.0.0.1:{}", ports[name]))
        .collect();
    let protocols: Vec<String> = LISTENERS
        .iter()
        .map(|(name, protocol)| format!("{name}:{protocol}"))
        .collect();
    let mut text = format!(
        "\n# tests/support/secure.rs\nlisteners={listeners}\nadvertised.listeners={listeners}\n\
         listener.security.protocol.map=CONTROLLER:PLAINTEXT,{protocols}\n{AUTHORIZER}\n\
         ssl.keystore.type=PEM\nssl.keystore.location={keystore}\n\
         ssl.truststore.type=PEM\nssl.truststore.location={ca}\n\
         listener.name.mtls.ssl.client.auth=required\n\
         listener.name.wrong_name.ssl.keystore.location={wrong_name}\n\
         listener.name.expired.ssl.keystore.location={expired}\n\
         sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512\n\
         listener.name.reauth.connections.max.reauth.ms={REAUTH_MS}\n",
        listeners = listeners.join(","),
        protocols = protocols.join(","),
        keystore = file("broker-keystore.pem"),
        ca = file("ca.pem"),
        wrong_name = file("wrong-name-keystore.pem"),
        expired = file("expired-keystore.pem"),
    );
    let (plain_user, plain_password) = PLAIN_USER;
    for listener in ["sasl_plaintext", "sasl_ssl", "reauth"] {
        let _ = writeln!(
            text,
            "listener.name.{listener}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule \
             required user_{plain_user}=\"{plain_password}\";"
        );
        for mechanism in ["scram-sha-256", "scram-sha-512"] {
            let _ = writeln!(
                text,
                "listener.name.{listener}.{mechanism}.sasl.jaas.config=\
                 org.apache.kafka.common.security.scram.ScramLoginModule required;"
            );
        }
    }
    text
}
