//! Test fixtures for `c_tests/test_auth.c`: NATS operator-mode JWTs, NKey seeds, `.creds`
//! files and nats-server configurations, made with the `nkeys` crate. Also checks
//! signatures for the signing tests.
//!
//! ```text
//! nats_test_jwt_fixtures init DIR
//!     Writes into DIR (which must exist):
//!       operator.jwt                   the operator (system account SYS)
//!       account.pub account.seed       the account users belong to (TESTACC)
//!       server.conf                    operator mode, memory resolver preloaded with SYS and TESTACC
//!       server-revoked.conf            same, but user "alice" is revoked in TESTACC
//!       NAME.creds                     chained credentials (JWT + seed, as nsc writes them)
//!       NAME.jwt NAME.seed NAME.pub    bare JWT (no newline), raw seed line, public key
//!       NAME.jwt.framed NAME.nk        the JWT and the seed in their BEGIN/END frames
//!     for the users NAME = alice (no limits), bob (may not publish to "rot.denied"),
//!     expired (expired a minute ago) and untrusted (signed by an account the server does
//!     not know); plus plain NKey users (no JWT):
//!       nkey.pub nkey.seed other.seed  a user key pair and an unrelated user seed
//!       nkey-server.conf               `authorization { users = [ { nkey: <nkey.pub> } ] }`
//!
//! nats_test_jwt_fixtures user DIR NAME EXP_IN_SECONDS
//!     A new user of TESTACC (signed with DIR/account.seed) whose JWT expires
//!     EXP_IN_SECONDS from now (may be negative; 0: no expiry); writes the NAME.* files.
//!
//! nats_test_jwt_fixtures verify PUBLIC_KEY MESSAGE SIGNATURE_HEX
//!     Exit status 0 when SIGNATURE_HEX (64 bytes, hex) is PUBLIC_KEY's ed25519 signature of
//!     the bytes of MESSAGE, 1 when it is not, 2 on usage errors.
//! ```
//!
//! A NATS JWT is `base64url(header).base64url(claims).base64url(sig)` where `sig` is the
//! issuer's ed25519 signature of `header.claims` (base64url without padding).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use nkeys::KeyPair;
use serde_json::{json, Value};

type Res<T> = Result<T, String>;

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// A JWT ID: unique per token within this process and across runs.
fn jti(seq: &mut u32) -> String {
    *seq += 1;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("CTEST{}X{}X{}", std::process::id(), nanos, seq)
}

struct Signer {
    seq: u32,
}

impl Signer {
    /// Fills in `iss`, `iat` and `jti`, then encodes and signs `claims` with `issuer`.
    fn jwt(&mut self, issuer: &KeyPair, mut claims: Value) -> Res<String> {
        claims["iss"] = json!(issuer.public_key());
        if claims.get("iat").is_none() {
            claims["iat"] = json!(now());
        }
        claims["jti"] = json!(jti(&mut self.seq));
        let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
        let body = b64(claims.to_string().as_bytes());
        let input = format!("{header}.{body}");
        let sig = issuer.sign(input.as_bytes()).map_err(|e| format!("sign: {e}"))?;
        Ok(format!("{input}.{}", b64(&sig)))
    }
}

fn seed_of(kp: &KeyPair) -> Res<String> {
    kp.seed().map_err(|e| format!("seed: {e}"))
}

fn write(dir: &Path, name: &str, content: &str) -> Res<()> {
    let p = dir.join(name);
    std::fs::write(&p, content).map_err(|e| format!("write {}: {e}", p.display()))
}

fn read(dir: &Path, name: &str) -> Res<String> {
    let p = dir.join(name);
    std::fs::read_to_string(&p).map_err(|e| format!("read {}: {e}", p.display()))
}

fn framed_jwt(jwt: &str) -> String {
    format!("-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n")
}

fn framed_seed(seed: &str) -> String {
    format!("-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n")
}

/// A chained `.creds` file, laid out as `nsc` writes it.
fn creds(jwt: &str, seed: &str) -> String {
    format!(
        "{}\n************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         {}\n*************************************************************\n",
        framed_jwt(jwt),
        framed_seed(seed)
    )
}

/// Writes NAME.creds, NAME.jwt, NAME.jwt.framed, NAME.seed, NAME.nk and NAME.pub for a new
/// user signed by `account`.
fn write_user(s: &mut Signer, dir: &Path, account: &KeyPair, name: &str, exp: Option<i64>, permissions: Value) -> Res<KeyPair> {
    let user = KeyPair::new_user();
    let mut nats = json!({
        "type": "user", "version": 2,
        "pub": {}, "sub": {},
        "subs": -1, "data": -1, "payload": -1
    });
    if let Value::Object(p) = permissions {
        for (k, v) in p {
            nats[k] = v;
        }
    }
    let mut claims = json!({ "sub": user.public_key(), "name": name, "nats": nats });
    if let Some(e) = exp {
        claims["exp"] = json!(e);
    }
    let jwt = s.jwt(account, claims)?;
    let seed = seed_of(&user)?;
    write(dir, &format!("{name}.creds"), &creds(&jwt, &seed))?;
    write(dir, &format!("{name}.jwt"), &jwt)?;
    write(dir, &format!("{name}.jwt.framed"), &framed_jwt(&jwt))?;
    write(dir, &format!("{name}.seed"), &format!("{seed}\n"))?;
    write(dir, &format!("{name}.nk"), &framed_seed(&seed))?;
    write(dir, &format!("{name}.pub"), &user.public_key())?;
    Ok(user)
}

fn account_jwt(s: &mut Signer, operator: &KeyPair, account: &KeyPair, name: &str, revocations: Value) -> Res<String> {
    s.jwt(
        operator,
        json!({
            "sub": account.public_key(),
            "name": name,
            "nats": {
                "type": "account", "version": 2,
                "limits": {
                    "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                    "wildcards": true, "conn": -1, "leaf": -1
                },
                "revocations": revocations
            }
        }),
    )
}

fn server_conf(op_jwt: &str, sys: &KeyPair, sys_jwt: &str, acc: &KeyPair, acc_jwt: &str) -> String {
    format!(
        "operator: {op_jwt}\nsystem_account: {}\nresolver: MEMORY\nresolver_preload: {{\n  {}: {sys_jwt}\n  {}: {acc_jwt}\n}}\n",
        sys.public_key(),
        sys.public_key(),
        acc.public_key()
    )
}

fn init(dir: &Path) -> Res<()> {
    let mut s = Signer { seq: 0 };
    let op = KeyPair::new_operator();
    let sys = KeyPair::new_account();
    let acc = KeyPair::new_account();

    let op_jwt = s.jwt(
        &op,
        json!({
            "sub": op.public_key(), "name": "CTESTOP",
            "nats": { "type": "operator", "version": 2, "system_account": sys.public_key() }
        }),
    )?;
    write(dir, "operator.jwt", &op_jwt)?;
    write(dir, "account.pub", &acc.public_key())?;
    write(dir, "account.seed", &format!("{}\n", seed_of(&acc)?))?;

    let alice = write_user(&mut s, dir, &acc, "alice", None, json!({}))?;
    write_user(&mut s, dir, &acc, "bob", None, json!({ "pub": { "deny": ["rot.denied"] } }))?;
    write_user(&mut s, dir, &acc, "expired", Some(now() - 60), json!({}))?;
    let unknown_account = KeyPair::new_account();
    write_user(&mut s, dir, &unknown_account, "untrusted", None, json!({}))?;

    let sys_jwt = account_jwt(&mut s, &op, &sys, "SYS", json!({}))?;
    let acc_jwt = account_jwt(&mut s, &op, &acc, "TESTACC", json!({}))?;
    write(dir, "server.conf", &server_conf(&op_jwt, &sys, &sys_jwt, &acc, &acc_jwt))?;
    // JWTs of alice issued up to an hour from now are revoked.
    let revoked_jwt = account_jwt(&mut s, &op, &acc, "TESTACC", json!({ alice.public_key(): now() + 3600 }))?;
    write(dir, "server-revoked.conf", &server_conf(&op_jwt, &sys, &sys_jwt, &acc, &revoked_jwt))?;

    let nkey = KeyPair::new_user();
    write(dir, "nkey.pub", &nkey.public_key())?;
    write(dir, "nkey.seed", &format!("{}\n", seed_of(&nkey)?))?;
    write(dir, "other.seed", &format!("{}\n", seed_of(&KeyPair::new_user())?))?;
    write(dir, "nkey-server.conf", &format!("authorization {{\n  users = [ {{ nkey: {} }} ]\n}}\n", nkey.public_key()))?;
    Ok(())
}

fn user(dir: &Path, name: &str, exp_in: &str) -> Res<()> {
    let exp_in: i64 = exp_in.parse().map_err(|_| format!("bad EXP_IN_SECONDS '{exp_in}'"))?;
    let acc = KeyPair::from_seed(read(dir, "account.seed")?.trim()).map_err(|e| format!("account seed: {e}"))?;
    let exp = if exp_in == 0 { None } else { Some(now() + exp_in) };
    let mut s = Signer { seq: 0 };
    write_user(&mut s, dir, &acc, name, exp, json!({}))?;
    Ok(())
}

fn from_hex(h: &str) -> Option<Vec<u8>> {
    if h.len() % 2 != 0 {
        return None;
    }
    (0..h.len()).step_by(2).map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok()).collect()
}

/// Ok(true) when valid, Ok(false) when not.
fn verify(public_key: &str, message: &str, sig_hex: &str) -> Res<bool> {
    let kp = KeyPair::from_public_key(public_key).map_err(|e| format!("public key: {e}"))?;
    let sig = from_hex(sig_hex).ok_or_else(|| "signature is not hex".to_string())?;
    if sig.len() != 64 {
        return Ok(false);
    }
    Ok(kp.verify(message.as_bytes(), &sig).is_ok())
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: nats_test_jwt_fixtures init DIR\n       \
         nats_test_jwt_fixtures user DIR NAME EXP_IN_SECONDS\n       \
         nats_test_jwt_fixtures verify PUBLIC_KEY MESSAGE SIGNATURE_HEX"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["init", dir] => init(&PathBuf::from(dir)).map(|_| true),
        ["user", dir, name, exp_in] => user(&PathBuf::from(dir), name, exp_in).map(|_| true),
        ["verify", pk, msg, sig] => verify(pk, msg, sig),
        _ => return usage(),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("nats_test_jwt_fixtures: {e}");
            ExitCode::from(2)
        }
    }
}
