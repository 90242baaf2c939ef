//! The security variables, shared by both binaries: Java's and librdkafka's settings in environment form
//! (`security.protocol` → `SECURITY_PROTOCOL`, ...). They become one [`Security`] (see [`crate::security`]).
//!
//! Settings that contradict each other are refused at start-up rather than half-used: a SASL mechanism with a
//! protocol without SASL, a TLS file with a protocol without TLS, a certificate without its key, a file that
//! cannot be read or holds no PEM. The password never appears in an error or in `Debug` output.

use serde::Deserialize;

use super::{ConfigError, EnvVar};
use crate::security::{SaslCredentials, SaslMechanism, Security, SecurityProtocol};

pub const SECURITY_PROTOCOL: EnvVar = EnvVar {
    name: "SECURITY_PROTOCOL",
    default: Some("PLAINTEXT"),
    expects: "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
    help: "How to connect to the brokers (Kafka's security.protocol): SSL and SASL_SSL use TLS (a build with the \
           `tls` feature), SASL_* log in with SASL_MECHANISM.",
};
pub const SASL_MECHANISM: EnvVar = EnvVar {
    name: "SASL_MECHANISM",
    default: Some("required with SASL_PLAINTEXT and SASL_SSL"),
    expects: "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
    help: "The SASL mechanism (Kafka's sasl.mechanism).",
};
pub const SASL_USERNAME: EnvVar = EnvVar {
    name: "SASL_USERNAME",
    default: Some("required with SASL_PLAINTEXT and SASL_SSL"),
    expects: "a user name (an API key on Confluent Cloud)",
    help: "The SASL user.",
};
pub const SASL_PASSWORD: EnvVar = EnvVar {
    name: "SASL_PASSWORD",
    default: Some("required with SASL_PLAINTEXT and SASL_SSL"),
    expects: "the user's password (never logged)",
    help: "The SASL password.",
};
pub const SSL_CA_LOCATION: EnvVar = EnvVar {
    name: "SSL_CA_LOCATION",
    default: Some("Mozilla's CA roots, built in"),
    expects: "a PEM file of CA certificates",
    help: "The certificate authorities that sign the brokers' certificates (a private CA, e.g. Aiven's).",
};
pub const SSL_CERTIFICATE_LOCATION: EnvVar = EnvVar {
    name: "SSL_CERTIFICATE_LOCATION",
    default: Some("none"),
    expects: "a PEM file: the client's certificate (and its chain)",
    help: "Mutual TLS: the certificate this client shows the brokers; needs SSL_KEY_LOCATION.",
};
pub const SSL_KEY_LOCATION: EnvVar = EnvVar {
    name: "SSL_KEY_LOCATION",
    default: Some("none"),
    expects: "a PEM file: the certificate's private key, unencrypted",
    help: "Mutual TLS: the private key of SSL_CERTIFICATE_LOCATION.",
};
pub const SSL_ENDPOINT_IDENTIFICATION_ALGORITHM: EnvVar = EnvVar {
    name: "SSL_ENDPOINT_IDENTIFICATION_ALGORITHM",
    default: Some("https"),
    expects: "https, or none (or empty) to skip host-name verification: INSECURE",
    help: "https: a broker's certificate must name the host connected to. none accepts any name the CA signed, \
           so anyone holding such a certificate can pose as the broker (a warning is logged).",
};

/// Every security variable, in the order `--help` lists them.
pub const SECURITY_VARS: [EnvVar; 8] = [
    SECURITY_PROTOCOL,
    SASL_MECHANISM,
    SASL_USERNAME,
    SASL_PASSWORD,
    SSL_CA_LOCATION,
    SSL_CERTIFICATE_LOCATION,
    SSL_KEY_LOCATION,
    SSL_ENDPOINT_IDENTIFICATION_ALGORITHM,
];

/// The security variables as set, before they are checked.
#[derive(Deserialize, Default)]
pub(super) struct RawSecurity {
    security_protocol: Option<String>,
    sasl_mechanism: Option<String>,
    sasl_username: Option<String>,
    sasl_password: Option<String>,
    ssl_ca_location: Option<String>,
    ssl_certificate_location: Option<String>,
    ssl_key_location: Option<String>,
    ssl_endpoint_identification_algorithm: Option<String>,
}

/// Checks the security variables and builds the [`Security`] every connection uses.
pub(super) fn parse(raw: RawSecurity) -> Result<Security, ConfigError> {
    let protocol = parse_protocol(raw.security_protocol.as_deref())?;
    let sasl = if protocol.uses_sasl() {
        Some(parse_sasl(&raw, protocol)?)
    } else {
        refuse_set(
            &[
                (&raw.sasl_mechanism, "SASL_MECHANISM"),
                (&raw.sasl_username, "SASL_USERNAME"),
                (&raw.sasl_password, "SASL_PASSWORD"),
            ],
            protocol,
            "SASL_PLAINTEXT or SASL_SSL",
        )?;
        None
    };
    let tls = if protocol.uses_tls() {
        Some(parse_tls(&raw, protocol)?)
    } else {
        refuse_set(
            &[
                (&raw.ssl_ca_location, "SSL_CA_LOCATION"),
                (&raw.ssl_certificate_location, "SSL_CERTIFICATE_LOCATION"),
                (&raw.ssl_key_location, "SSL_KEY_LOCATION"),
                (
                    &raw.ssl_endpoint_identification_algorithm,
                    "SSL_ENDPOINT_IDENTIFICATION_ALGORITHM",
                ),
            ],
            protocol,
            "SSL or SASL_SSL",
        )?;
        None
    };
    Ok(Security { protocol, tls, sasl })
}

fn parse_protocol(value: Option<&str>) -> Result<SecurityProtocol, ConfigError> {
    let Some(value) = value else {
        return Ok(SecurityProtocol::Plaintext);
    };
    match value.trim().to_ascii_uppercase().as_str() {
        "PLAINTEXT" => Ok(SecurityProtocol::Plaintext),
        "SSL" => Ok(SecurityProtocol::Ssl),
        "SASL_PLAINTEXT" => Ok(SecurityProtocol::SaslPlaintext),
        "SASL_SSL" => Ok(SecurityProtocol::SaslSsl),
        _ => Err(ConfigError(format!(
            "SECURITY_PROTOCOL is '{value}'; expected {}",
            SECURITY_PROTOCOL.expects
        ))),
    }
}

/// A variable set for a protocol that does not use it is a mistake (most often SECURITY_PROTOCOL forgotten).
/// Set but empty counts as unset: a compose file passes variables through as empty strings.
fn refuse_set(vars: &[(&Option<String>, &str)], protocol: SecurityProtocol, needs: &str) -> Result<(), ConfigError> {
    match vars
        .iter()
        .find(|(value, _)| value.as_deref().is_some_and(|v| !v.trim().is_empty()))
    {
        Some((_, name)) => Err(ConfigError(format!(
            "{name} is set, but SECURITY_PROTOCOL is {}; {name} needs SECURITY_PROTOCOL={needs}",
            protocol.name()
        ))),
        None => Ok(()),
    }
}

fn parse_sasl(raw: &RawSecurity, protocol: SecurityProtocol) -> Result<SaslCredentials, ConfigError> {
    let missing = |var: &EnvVar| {
        ConfigError(format!(
            "{} is not set; SECURITY_PROTOCOL={} needs {}",
            var.name,
            protocol.name(),
            var.expects
        ))
    };
    let mechanism = match raw.sasl_mechanism.as_deref().map(|m| m.trim().to_ascii_uppercase()) {
        None => return Err(missing(&SASL_MECHANISM)),
        Some(m) if m == "PLAIN" => SaslMechanism::Plain,
        Some(m) if m == "SCRAM-SHA-256" => SaslMechanism::ScramSha256,
        Some(m) if m == "SCRAM-SHA-512" => SaslMechanism::ScramSha512,
        Some(other) => {
            return Err(ConfigError(format!(
                "SASL_MECHANISM is '{other}'; expected {} (GSSAPI and OAUTHBEARER are not supported)",
                SASL_MECHANISM.expects
            )))
        }
    };
    let username = raw.sasl_username.clone().filter(|u| !u.is_empty());
    let password = raw.sasl_password.clone().filter(|p| !p.is_empty());
    Ok(SaslCredentials {
        mechanism,
        username: username.ok_or_else(|| missing(&SASL_USERNAME))?,
        password: password.ok_or_else(|| missing(&SASL_PASSWORD))?,
    })
}

/// `https` (the default) verifies host names; `none` or empty does not.
fn parse_verify_host_name(value: Option<&str>) -> Result<bool, ConfigError> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("https") => Ok(true),
        Some("" | "none") => Ok(false),
        Some(other) => Err(ConfigError(format!(
            "SSL_ENDPOINT_IDENTIFICATION_ALGORITHM is '{other}'; expected {}",
            SSL_ENDPOINT_IDENTIFICATION_ALGORITHM.expects
        ))),
    }
}

#[cfg(feature = "tls")]
fn parse_tls(raw: &RawSecurity, _: SecurityProtocol) -> Result<crate::security::TlsSettings, ConfigError> {
    use crate::security::tls;
    fn path(value: &Option<String>) -> Option<&str> {
        value.as_deref().map(str::trim).filter(|p| !p.is_empty())
    }
    let files = tls::TlsFiles {
        ca_location: path(&raw.ssl_ca_location),
        certificate_location: path(&raw.ssl_certificate_location),
        key_location: path(&raw.ssl_key_location),
        verify_host_name: parse_verify_host_name(raw.ssl_endpoint_identification_algorithm.as_deref())?,
    };
    tls::settings(&files).map_err(ConfigError)
}

#[cfg(not(feature = "tls"))]
fn parse_tls(raw: &RawSecurity, protocol: SecurityProtocol) -> Result<crate::security::TlsSettings, ConfigError> {
    parse_verify_host_name(raw.ssl_endpoint_identification_algorithm.as_deref())?;
    Err(ConfigError(format!(
        "SECURITY_PROTOCOL={} needs TLS, which this build leaves out: build with \
         `cargo build --release --features tls` (README, \"Connecting to a hosted cluster\")",
        protocol.name()
    )))
}

#[cfg(test)]
mod tests {
    use super::super::ProducerConfig;

    fn producer(pairs: &[(&str, &str)]) -> Result<ProducerConfig, String> {
        let mut vars = vec![("KAFKA_BOOTSTRAP_SERVERS".to_string(), "h:1".to_string())];
        vars.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        ProducerConfig::from_vars(vars.into_iter()).map_err(|e| e.to_string())
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        producer(pairs).expect_err("a configuration error")
    }

    #[test]
    fn plaintext_by_default() {
        let config = producer(&[]).unwrap();
        assert_eq!(config.security.protocol.name(), "PLAINTEXT");
        assert!(config.security.sasl.is_none() && config.security.tls.is_none());
    }

    #[test]
    fn sasl_needs_mechanism_user_and_password() {
        let config = producer(&[
            ("SECURITY_PROTOCOL", "sasl_plaintext"),
            ("SASL_MECHANISM", "scram-sha-512"),
            ("SASL_USERNAME", "alice"),
            ("SASL_PASSWORD", "alice-secret"),
        ])
        .unwrap();
        let sasl = config.security.sasl.as_ref().unwrap();
        assert_eq!(
            (sasl.mechanism.name(), sasl.username.as_str()),
            ("SCRAM-SHA-512", "alice")
        );
        assert_eq!(config.security.describe(), "SASL_PLAINTEXT SCRAM-SHA-512 as alice");

        let sasl = [("SECURITY_PROTOCOL", "SASL_PLAINTEXT")];
        assert!(error(&sasl).starts_with("SASL_MECHANISM is not set; SECURITY_PROTOCOL=SASL_PLAINTEXT needs"));
        let no_user = [sasl[0], ("SASL_MECHANISM", "PLAIN"), ("SASL_PASSWORD", "x")];
        assert!(error(&no_user).starts_with("SASL_USERNAME is not set"));
        let no_password = [sasl[0], ("SASL_MECHANISM", "PLAIN"), ("SASL_USERNAME", "alice")];
        assert!(error(&no_password).starts_with("SASL_PASSWORD is not set"));
        let gssapi = [sasl[0], ("SASL_MECHANISM", "GSSAPI")];
        assert!(error(&gssapi).starts_with("SASL_MECHANISM is 'GSSAPI'; expected PLAIN"));
    }

    #[test]
    fn settings_for_another_protocol_are_refused() {
        assert_eq!(
            error(&[("SASL_MECHANISM", "PLAIN")]),
            "SASL_MECHANISM is set, but SECURITY_PROTOCOL is PLAINTEXT; SASL_MECHANISM needs \
             SECURITY_PROTOCOL=SASL_PLAINTEXT or SASL_SSL"
        );
        assert!(error(&[("SSL_CA_LOCATION", "/ca.pem")]).starts_with("SSL_CA_LOCATION is set, but"));
        assert!(
            producer(&[("SSL_CA_LOCATION", ""), ("SASL_PASSWORD", " ")]).is_ok(),
            "empty is unset"
        );
        assert!(error(&[("SECURITY_PROTOCOL", "TLS")]).starts_with("SECURITY_PROTOCOL is 'TLS'; expected"));
    }

    #[test]
    fn the_password_is_never_shown() {
        let secret = "hunter2-very-secret";
        let config = producer(&[
            ("SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
            ("SASL_MECHANISM", "PLAIN"),
            ("SASL_USERNAME", "alice"),
            ("SASL_PASSWORD", secret),
        ])
        .unwrap();
        assert!(!format!("{config:?}").contains(secret), "{config:?}");
        assert!(!config.security.describe().contains(secret));
        let help = super::super::help_text("producer", "", super::super::PRODUCER_VARS);
        assert!(help.contains("SASL_PASSWORD") && help.contains("SSL_ENDPOINT_IDENTIFICATION_ALGORITHM"));
    }

    /// Without the `tls` feature, TLS is refused at start-up; with it, a TLS protocol is ready to connect.
    #[test]
    fn tls_needs_the_feature() {
        let result = producer(&[("SECURITY_PROTOCOL", "SSL")]);
        if cfg!(feature = "tls") {
            let config = result.unwrap();
            assert!(config.security.tls.is_some());
            assert!(config.security.describe().starts_with("SSL, CA roots: built-in"));
        } else {
            let error = result.unwrap_err();
            assert!(error.contains("needs TLS, which this build leaves out"), "{error}");
        }
        let bad_switch = [
            ("SECURITY_PROTOCOL", "SSL"),
            ("SSL_ENDPOINT_IDENTIFICATION_ALGORITHM", "http"),
        ];
        assert!(error(&bad_switch).starts_with("SSL_ENDPOINT_IDENTIFICATION_ALGORITHM is 'http'"));
    }
}
