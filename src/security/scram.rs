//! SCRAM (RFC 5802, with SHA-256 as in RFC 7677 or SHA-512): how a Kafka client proves it knows a password
//! without sending it, and checks that the broker knows it too.
//!
//! The broker stores, per user, a salt, an iteration count and two keys derived from the password. Three
//! messages settle who is who:
//!
//! ```text
//! client → n,,n=alice,r=<client nonce>                        client-first
//! broker ← r=<client nonce + broker nonce>,s=<salt>,i=<4096>  server-first
//! client → c=biws,r=<both nonces>,p=<proof>                   client-final: the proof needs the password
//! broker ← v=<signature>                                      server-final: the signature needs its keys
//! ```
//!
//! The proof is `ClientKey XOR HMAC(H(ClientKey), AuthMessage)`, where `ClientKey` comes from the salted
//! password and `AuthMessage` is the conversation so far; the broker, holding `H(ClientKey)`, recovers
//! `ClientKey` and checks its hash. Both nonces are in `AuthMessage`, so an old proof is worth nothing.
//!
//! Like Kafka's Java client, the password is used as its UTF-8 bytes (no SASLprep), and the user name is
//! escaped as the RFC says (`=` → `=3D`, `,` → `=2C`).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// The fewest iterations Kafka allows for a SCRAM credential; fewer is a broker we should not trust.
const MIN_ITERATIONS: u32 = 4096;
/// The most we compute: PBKDF2 runs on the async runtime, and a hostile broker could ask for billions.
const MAX_ITERATIONS: u32 = 1_000_000;

/// The hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    Sha256,
    Sha512,
}

/// A SCRAM exchange that the broker's answers do not fit.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScramError {
    #[error("the broker's SCRAM message is malformed: {0}")]
    Malformed(&'static str),
    #[error("the broker's nonce does not extend ours")]
    NonceMismatch,
    #[error("the broker asks for {0} iterations, outside {MIN_ITERATIONS} to {MAX_ITERATIONS}")]
    Iterations(u32),
    #[error("the broker refused: {0}")]
    Refused(String),
    #[error("the broker's signature is wrong: it does not know this password (or is not the broker)")]
    BadServerSignature,
}

/// The client side of one SCRAM exchange.
pub struct ScramClient {
    hash: ScramHash,
    password: String,
    nonce: String,
    client_first_bare: String,
    /// What the broker's server-final must carry, known once client-final is computed.
    expected_signature: Option<Vec<u8>>,
}

impl ScramClient {
    /// A new exchange for `username` with a random nonce.
    pub fn new(hash: ScramHash, username: &str, password: &str) -> Self {
        let random: [u8; 18] = rand::random();
        Self::with_nonce(hash, username, password, &BASE64.encode(random))
    }

    /// A new exchange with a given nonce (for test vectors).
    fn with_nonce(hash: ScramHash, username: &str, password: &str, nonce: &str) -> Self {
        let name = username.replace('=', "=3D").replace(',', "=2C");
        Self {
            hash,
            password: password.to_string(),
            nonce: nonce.to_string(),
            client_first_bare: format!("n={name},r={nonce}"),
            expected_signature: None,
        }
    }

    /// client-first: no channel binding (`n,,`), the user name and our nonce.
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    /// client-final, computed from the broker's server-first.
    pub fn client_final(&mut self, server_first: &str) -> Result<String, ScramError> {
        let nonce = attribute(server_first, 'r').ok_or(ScramError::Malformed("no nonce"))?;
        let salt = attribute(server_first, 's').ok_or(ScramError::Malformed("no salt"))?;
        let iterations = attribute(server_first, 'i').ok_or(ScramError::Malformed("no iteration count"))?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(ScramError::NonceMismatch);
        }
        let salt = BASE64
            .decode(salt)
            .map_err(|_| ScramError::Malformed("the salt is not base64"))?;
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| ScramError::Malformed("the iteration count is not a number"))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(ScramError::Iterations(iterations));
        }

        let salted_password = self.salted_password(&salt, iterations);
        let client_key = self.hmac(&salted_password, b"Client Key");
        let stored_key = self.digest(&client_key);
        // "biws" is base64 of the GS2 header "n,,": no channel binding, no authorization identity.
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let client_signature = self.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&client_signature).map(|(k, s)| k ^ s).collect();

        let server_key = self.hmac(&salted_password, b"Server Key");
        self.expected_signature = Some(self.hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", BASE64.encode(proof)))
    }

    /// Checks the broker's server-final: its signature proves it holds this user's keys.
    pub fn verify_server_final(&self, server_final: &str) -> Result<(), ScramError> {
        if let Some(error) = attribute(server_final, 'e') {
            return Err(ScramError::Refused(error.to_string()));
        }
        let signature = attribute(server_final, 'v').ok_or(ScramError::Malformed("no signature"))?;
        let signature = BASE64
            .decode(signature)
            .map_err(|_| ScramError::Malformed("the signature is not base64"))?;
        match &self.expected_signature {
            Some(expected) if *expected == signature => Ok(()),
            _ => Err(ScramError::BadServerSignature),
        }
    }

    /// RFC 5802's `Hi`: PBKDF2 with HMAC of the mechanism's hash.
    fn salted_password(&self, salt: &[u8], iterations: u32) -> Vec<u8> {
        let password = self.password.as_bytes();
        match self.hash {
            ScramHash::Sha256 => pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec(),
            ScramHash::Sha512 => pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password, salt, iterations).to_vec(),
        }
    }

    fn hmac(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self.hash {
            ScramHash::Sha256 => mac::<Hmac<Sha256>>(key, data),
            ScramHash::Sha512 => mac::<Hmac<Sha512>>(key, data),
        }
    }

    fn digest(&self, data: &[u8]) -> Vec<u8> {
        match self.hash {
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
            ScramHash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail.
    let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The value of attribute `name` (`name=value`) in a comma-separated SCRAM message.
fn attribute(message: &str, name: char) -> Option<&str> {
    message.split(',').find_map(|part| {
        let mut chars = part.chars();
        (chars.next() == Some(name) && chars.next() == Some('=')).then(|| &part[2..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677, section 3: user "user", password "pencil".
    #[test]
    fn rfc_7677_sha_256_exchange() {
        let mut client = ScramClient::with_nonce(ScramHash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(client.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        assert_eq!(
            client.client_final(server_first).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert_eq!(
            client.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Ok(())
        );
        assert_eq!(
            client.verify_server_final("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Err(ScramError::BadServerSignature)
        );
    }

    /// SHA-512 has no RFC test vector: play the broker's side here, as RFC 5802 section 3 describes it.
    #[test]
    fn sha_512_proof_is_what_a_broker_checks() {
        let salt = b"kafka-lab-salt";
        let (password, iterations) = ("secret", 4096);
        let mut client = ScramClient::with_nonce(ScramHash::Sha512, "ali,ce=", password, "abc");
        assert_eq!(client.client_first(), "n,,n=ali=2Cce=3D,r=abc");
        let server_first = format!("r=abcdef,s={},i={iterations}", BASE64.encode(salt));
        let client_final = client.client_final(&server_first).unwrap();

        // The broker's side: it keeps StoredKey = H(ClientKey) and ServerKey, never the password.
        let salted = pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password.as_bytes(), salt, iterations);
        let stored_key = Sha512::digest(mac::<Hmac<Sha512>>(&salted, b"Client Key"));
        let without_proof = client_final.rsplit_once(",p=").unwrap().0;
        let auth_message = format!("n=ali=2Cce=3D,r=abc,{server_first},{without_proof}");
        let signature = mac::<Hmac<Sha512>>(&stored_key, auth_message.as_bytes());
        let proof = BASE64.decode(attribute(&client_final, 'p').unwrap()).unwrap();
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        assert_eq!(Sha512::digest(&client_key), stored_key, "the broker accepts the proof");

        let server_key = mac::<Hmac<Sha512>>(&salted, b"Server Key");
        let server_signature = mac::<Hmac<Sha512>>(&server_key, auth_message.as_bytes());
        let server_final = format!("v={}", BASE64.encode(server_signature));
        assert_eq!(client.verify_server_final(&server_final), Ok(()));
    }

    #[test]
    fn refuses_what_a_broker_must_not_send() {
        let mut client = ScramClient::with_nonce(ScramHash::Sha256, "user", "pencil", "abc");
        assert_eq!(
            client.client_final("r=xyz1,s=AAAA,i=4096"),
            Err(ScramError::NonceMismatch)
        );
        assert_eq!(
            client.client_final("r=abc,s=AAAA,i=4096"),
            Err(ScramError::NonceMismatch)
        );
        assert_eq!(client.client_final("r=abcd,s=AAAA,i=1"), Err(ScramError::Iterations(1)));
        assert_eq!(
            client.client_final("r=abcd,s=AAAA"),
            Err(ScramError::Malformed("no iteration count"))
        );
        assert_eq!(
            client.client_final("r=abcd,s=!!,i=4096"),
            Err(ScramError::Malformed("the salt is not base64"))
        );
        assert_eq!(
            client.verify_server_final("e=invalid-proof"),
            Err(ScramError::Refused("invalid-proof".into()))
        );
        assert_eq!(
            client.verify_server_final("v=AAAA"),
            Err(ScramError::BadServerSignature),
            "no client-final was computed, so no signature can be right"
        );
    }

    #[test]
    fn random_nonces_differ_and_hold_no_comma() {
        let a = ScramClient::new(ScramHash::Sha256, "u", "p");
        let b = ScramClient::new(ScramHash::Sha256, "u", "p");
        assert_ne!(a.nonce, b.nonce);
        assert!(a.nonce.len() >= 24 && !a.nonce.contains(','));
    }
}
