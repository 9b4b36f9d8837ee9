//! SASL SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677): the client
//! side of the exchange a connection runs after ApiVersions. The password
//! never leaves this module except as the proof the RFC defines.
//!
//! Checked against RFC 7677's example exchange only: the test broker
//! (tansu 0.6) enables SASL only with authentication required and no way
//! to create its first user, so no live exchange was tested, and
//! validation still refuses `username` and `password`.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// How a Kafka client proves its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    /// SCRAM-SHA-256 (RFC 7677).
    ScramSha256,
    /// SCRAM-SHA-512.
    ScramSha512,
}

/// Credentials for SASL, as the connection needs them.
#[derive(Clone)]
pub struct Credentials {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} as {} (password hidden)",
            mechanism_name(self.mechanism),
            self.username
        )
    }
}

/// The mechanism's name in SaslHandshake.
pub fn mechanism_name(mechanism: SaslMechanism) -> &'static str {
    match mechanism {
        SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
        SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
    }
}

/// One SCRAM exchange: the client's first message, then its final one
/// from the server's first, then the check of the server's final one.
pub struct Scram {
    mechanism: SaslMechanism,
    password: String,
    first_bare: String,
    nonce: String,
    /// The server signature expected in its final message.
    expected: Option<Vec<u8>>,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl Scram {
    pub fn new(credentials: &Credentials) -> Result<Self, String> {
        let mut random = [0u8; 24];
        getrandom::getrandom(&mut random).map_err(|e| format!("no randomness for SCRAM: {e}"))?;
        Ok(Self::with_nonce(credentials, &b64().encode(random)))
    }

    fn with_nonce(credentials: &Credentials, nonce: &str) -> Self {
        let user = credentials.username.replace('=', "=3D").replace(',', "=2C");
        Self {
            mechanism: credentials.mechanism,
            password: credentials.password.clone(),
            first_bare: format!("n={user},r={nonce}"),
            nonce: nonce.to_owned(),
            expected: None,
        }
    }

    /// `n,,n=USER,r=NONCE`.
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.first_bare).into_bytes()
    }

    /// The client's final message, proving the password, from the
    /// server's first message.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, String> {
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| "the server's SCRAM message is not UTF-8".to_owned())?;
        let field = |name: &str| {
            server_first
                .split(',')
                .find_map(|part| part.strip_prefix(name))
                .ok_or_else(|| format!("the server's SCRAM message has no `{name}`"))
        };
        let nonce = field("r=")?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("the server's SCRAM nonce does not extend the client's".to_owned());
        }
        let salt = b64()
            .decode(field("s=")?)
            .map_err(|_| "the server's SCRAM salt is not base64".to_owned())?;
        let iterations: u32 = field("i=")?
            .parse()
            .map_err(|_| "the server's SCRAM iteration count is not a number".to_owned())?;
        if !(1..=1_000_000).contains(&iterations) {
            return Err(format!("the server asks for {iterations} SCRAM iterations"));
        }
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.first_bare);
        let (proof, server_signature) = match self.mechanism {
            SaslMechanism::ScramSha256 => {
                prove_sha256(&self.password, &salt, iterations, &auth_message)
            }
            SaslMechanism::ScramSha512 => {
                prove_sha512(&self.password, &salt, iterations, &auth_message)
            }
        };
        self.expected = Some(server_signature);
        Ok(format!("{without_proof},p={}", b64().encode(proof)).into_bytes())
    }

    /// Checks the server's final message: the server knew the password too.
    pub fn check_server_final(&self, server_final: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(server_final).unwrap_or("");
        if let Some(error) = text.strip_prefix("e=") {
            return Err(format!("the server refused the login: {error}"));
        }
        let signature = text
            .strip_prefix("v=")
            .and_then(|v| b64().decode(v.split(',').next().unwrap_or("")).ok());
        match (&self.expected, signature) {
            (Some(expected), Some(signature)) if *expected == signature => Ok(()),
            _ => Err("the server's SCRAM signature does not match: it may not be the broker it claims to be".to_owned()),
        }
    }
}

/// `prove_*`: the client proof and the expected server signature
/// (RFC 5802 §3) with one hash function.
macro_rules! prove_with {
    ($name:ident, $hash:ty) => {
        fn $name(
            password: &str,
            salt: &[u8],
            iterations: u32,
            auth_message: &str,
        ) -> (Vec<u8>, Vec<u8>) {
            let mut salted = vec![0u8; <$hash as Digest>::output_size()];
            pbkdf2::pbkdf2_hmac::<$hash>(password.as_bytes(), salt, iterations, &mut salted);
            let hmac = |key: &[u8], data: &[u8]| {
                let mut mac = <Hmac<$hash> as Mac>::new_from_slice(key)
                    .expect("HMAC takes keys of any length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            };
            let client_key = hmac(&salted, b"Client Key");
            let stored_key = <$hash>::digest(&client_key);
            let client_signature = hmac(&stored_key, auth_message.as_bytes());
            let proof = client_key
                .iter()
                .zip(&client_signature)
                .map(|(a, b)| a ^ b)
                .collect();
            let server_key = hmac(&salted, b"Server Key");
            (proof, hmac(&server_key, auth_message.as_bytes()))
        }
    };
}

prove_with!(prove_sha256, Sha256);
prove_with!(prove_sha512, Sha512);

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3's example exchange.
    #[test]
    fn the_rfc_7677_exchange_is_reproduced() {
        let credentials = Credentials {
            mechanism: SaslMechanism::ScramSha256,
            username: "user".to_owned(),
            password: "pencil".to_owned(),
        };
        let mut scram = Scram::with_nonce(&credentials, "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(scram.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let last = scram
            .client_final(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap();
        assert_eq!(
            String::from_utf8(last).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        scram
            .check_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert!(scram.check_server_final(b"v=AAAA").is_err());
        assert!(format!("{credentials:?}").contains("password hidden"));
        assert!(!format!("{credentials:?}").contains("pencil"));
    }
}
