//! Authentication material for CONNECT: user credentials (JWT + NKey seed, from files, from
//! memory, or from callbacks) and NKeys. Files are read again at every connect so rotated
//! credentials are picked up; seeds are wiped from memory after use.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::status::{Error, Result, Status};

/// Signs the server's nonce; returns the raw signature.
pub type SignCallback = Arc<dyn Fn(&str) -> Result<Vec<u8>> + Send + Sync>;
/// Returns the user JWT.
pub type JwtCallback = Arc<dyn Fn() -> Result<String> + Send + Sync>;

/// Where the user JWT and its seed come from.
#[derive(Clone)]
pub enum UserCreds {
    /// A chained `.creds` file (JWT then seed), or a JWT file with a separate seed file.
    Files { user_or_chained: String, seed_file: Option<String> },
    /// The content of a chained `.creds` file.
    Memory(Arc<Zeroizing<String>>),
}

/// How the client authenticates beyond user/password and token (mutually exclusive, as
/// in cnats).
#[derive(Clone, Default)]
pub enum Auth {
    #[default]
    None,
    Creds(UserCreds),
    CredsCallbacks { jwt: JwtCallback, sign: SignCallback },
    NKey { public_key: String, sign: NKeySigner },
}

#[derive(Clone)]
pub enum NKeySigner {
    Callback(SignCallback),
    SeedFile(String),
}

/// What goes into CONNECT for the chosen method.
#[derive(Default)]
pub struct ConnectAuth {
    pub jwt: Option<String>,
    pub nkey: Option<String>,
    /// Base64 URL encoding (no padding) of the nonce's signature.
    pub sig: Option<String>,
}

impl Auth {
    pub fn connect_fields(&self, nonce: &str) -> Result<ConnectAuth> {
        let (jwt, nkey, sig) = match self {
            Auth::None => return Ok(ConnectAuth::default()),
            Auth::Creds(uc) => (Some(uc.jwt()?), None, uc.sign(nonce.as_bytes())?),
            Auth::CredsCallbacks { jwt, sign } => (Some(jwt()?), None, sign(nonce)?),
            Auth::NKey { public_key, sign } => {
                let sig = match sign {
                    NKeySigner::Callback(cb) => cb(nonce)?,
                    NKeySigner::SeedFile(path) => {
                        let seed = seed_from_file(path, 0)?;
                        sign_with_seed(&seed, nonce.as_bytes())?
                    }
                };
                (None, Some(public_key.clone()), sig)
            }
        };
        use base64::Engine;
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig);
        Ok(ConnectAuth { jwt, nkey, sig: Some(sig) })
    }
}

impl UserCreds {
    pub fn jwt(&self) -> Result<String> {
        match self {
            UserCreds::Memory(content) => jwt_or_seed(content, 0)
                .map(|z| z.to_string())
                .ok_or_else(|| Error::with_text(Status::Err, "no user JWT found in the credentials")),
            UserCreds::Files { user_or_chained, .. } => {
                let content = read_file(user_or_chained)?;
                Ok(match jwt_or_seed(&content, 0) {
                    Some(j) => j.to_string(),
                    // A plain JWT file.
                    None => content.trim().to_string(),
                })
            }
        }
    }

    fn seed(&self) -> Result<Zeroizing<String>> {
        match self {
            UserCreds::Memory(content) => jwt_or_seed(content, 1)
                .ok_or_else(|| Error::with_text(Status::Err, "no nkey user seed found in the credentials")),
            UserCreds::Files { seed_file: Some(f), .. } => seed_from_file(f, 0),
            UserCreds::Files { user_or_chained, seed_file: None } => seed_from_file(user_or_chained, 1),
        }
    }

    /// Signs `input` with the user's seed (natsConnection_Sign).
    pub fn sign(&self, input: &[u8]) -> Result<Vec<u8>> {
        let seed = self.seed()?;
        sign_with_seed(&seed, input)
    }
}

/// Signs with the seed file given to natsOptions_SetNKeyFromSeed.
pub fn sign_with_seed_file(path: &str, input: &[u8]) -> Result<Vec<u8>> {
    let seed = seed_from_file(path, 0)?;
    sign_with_seed(&seed, input)
}

/// Signs with an encoded NKey seed (nats_Sign). Like cnats' natsKeys_Sign, a seed that does
/// not decode (bad characters, checksum, not a seed) is NATS_ERR, not an argument error.
pub fn sign_with_seed(seed: &str, input: &[u8]) -> Result<Vec<u8>> {
    let kp = nkeys::KeyPair::from_seed(seed.trim())
        .map_err(|e| Error::with_text(Status::Err, format!("invalid nkey seed: {e}")))?;
    kp.sign(input).map_err(|e| Error::with_text(Status::Err, format!("unable to sign: {e}")))
}

fn read_file(path: &str) -> Result<Zeroizing<String>> {
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| Error::with_text(Status::Err, format!("error reading file '{path}': {e}")))
}

/// The seed in a file: item `item` of its dashed blocks, or else the first line starting
/// with "SU".
fn seed_from_file(path: &str, item: usize) -> Result<Zeroizing<String>> {
    let content = read_file(path)?;
    if let Some(s) = jwt_or_seed(&content, item) {
        return Ok(s);
    }
    content
        .lines()
        .map(str::trim_start)
        .find(|l| l.starts_with("SU"))
        .map(|l| Zeroizing::new(l.trim_end().to_string()))
        .ok_or_else(|| Error::with_text(Status::Err, format!("no nkey user seed found in '{path}'")))
}

/// A header line of a creds file: it ends with at least three dashes and has three more
/// dashes before those (e.g. `-----BEGIN NATS USER JWT-----`).
fn is_header_line(line: &str) -> bool {
    let l = line.trim_end_matches(['\r', '\n']);
    if l.len() < 6 || !l.ends_with("---") {
        return false;
    }
    l[..l.len() - 3].contains("---")
}

/// Item `item` (0: JWT, 1: seed) of a chained credentials text: the line framed by two
/// header lines.
pub fn jwt_or_seed(content: &str, item: usize) -> Option<Zeroizing<String>> {
    let mut lines = content.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut cur = 0;
    while let Some(line) = lines.next() {
        if !is_header_line(line) {
            continue;
        }
        let saved = lines.next()?;
        let closing = lines.next()?;
        if is_header_line(closing) {
            if cur == item {
                return Some(Zeroizing::new(saved.to_string()));
            }
            cur += 1;
            if cur > 1 {
                return None;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDS: &str = "-----BEGIN NATS USER JWT-----\neyJhbGciOiJlZDI1NTE5In0.abc.def\n------END NATS USER JWT------\n\n\
************************* IMPORTANT *************************\nNKEY Seed printed below can be used to sign and prove identity.\n\n\
-----BEGIN USER NKEY SEED-----\nSUAMK2FG4MI6UE3ACF3FK3OIQBCEIEZV7NSWFFEW63UXMRLFM2XLAXK4GY\n------END USER NKEY SEED------\n";

    #[test]
    fn finds_jwt_and_seed_in_chained_creds() {
        assert_eq!(jwt_or_seed(CREDS, 0).unwrap().as_str(), "eyJhbGciOiJlZDI1NTE5In0.abc.def");
        assert_eq!(jwt_or_seed(CREDS, 1).unwrap().as_str(), "SUAMK2FG4MI6UE3ACF3FK3OIQBCEIEZV7NSWFFEW63UXMRLFM2XLAXK4GY");
        assert!(jwt_or_seed("just a jwt", 0).is_none());
    }

    #[test]
    fn signs_and_verifies_with_a_generated_user_key() {
        let kp = nkeys::KeyPair::new_user();
        let seed = kp.seed().unwrap();
        let sig = sign_with_seed(&seed, b"nonce").unwrap();
        assert_eq!(sig.len(), 64);
        kp.verify(b"nonce", &sig).unwrap();
        assert_eq!(sign_with_seed("not a seed", b"x").unwrap_err().status, Status::Err);
    }

    #[test]
    fn header_lines() {
        assert!(is_header_line("-----BEGIN NATS USER JWT-----"));
        assert!(is_header_line("------"));
        assert!(!is_header_line("-----"));
        assert!(!is_header_line("eyJ---"));
    }
}
