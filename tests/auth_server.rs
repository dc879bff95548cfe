//! Integration tests of NKey and JWT (operator mode) authentication against a real
//! `nats-server`.
//!
//! Every test starts its own server with a generated configuration file on a free 127.0.0.1
//! port (see `common`). Operator, account and user JWTs are built by hand here: a NATS JWT is
//! `base64url(header).base64url(claims).base64url(ed25519 signature of "header.claims")`,
//! signed with the issuer's NKey. Each test names, in a comment, the cnats 3.13 behaviour it
//! pins.

mod common;

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use common::NatsServer;
use nats::core::auth::{Auth, NKeySigner, UserCreds};
use nats::core::conn::Conn;
use nats::core::options::Options;
use nats::core::status::{Error, Status};
use nkeys::KeyPair;
use serde_json::json;
use zeroize::Zeroizing;

const WAIT: Duration = Duration::from_secs(5);
const FLUSH_MS: i64 = 5_000;

// ----- helpers -----

/// A connection closed when the test ends, so no reconnect loop outlives the test.
struct Client(Arc<Conn>);

impl Deref for Client {
    type Target = Arc<Conn>;
    fn deref(&self) -> &Arc<Conn> {
        &self.0
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.0.close();
    }
}

fn connect_with(o: Options) -> Client {
    match Conn::connect(o) {
        Ok(c) => Client(c),
        Err(e) => panic!("connect failed: {:?} {}", e.status, e.message()),
    }
}

fn connect_err(o: Options) -> Error {
    match Conn::connect(o) {
        Ok(c) => {
            c.close();
            panic!("connect succeeded, expected a failure")
        }
        Err(e) => e,
    }
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let d = std::env::temp_dir().join(format!(
            "nats-rs-auth-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("create temp dir");
        TempDir(d)
    }
    fn write(&self, name: &str, content: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, content).expect("write temp file");
        p.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

static JTI: AtomicUsize = AtomicUsize::new(0);

/// Encodes and signs a JWT with `claims` (iat, iss, jti are filled in).
fn encode_jwt(issuer: &KeyPair, mut claims: serde_json::Value) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    claims["iss"] = json!(issuer.public_key());
    if claims.get("iat").is_none() {
        claims["iat"] = json!(now());
    }
    claims["jti"] = json!(format!("RSTEST{}X{}", std::process::id(), JTI.fetch_add(1, Ordering::Relaxed)));
    let header = b64.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = b64.encode(claims.to_string());
    let signing_input = format!("{header}.{body}");
    let sig = issuer.sign(signing_input.as_bytes()).expect("sign jwt");
    format!("{signing_input}.{}", b64.encode(sig))
}

fn operator_jwt(op: &KeyPair) -> String {
    encode_jwt(op, json!({ "sub": op.public_key(), "name": "TESTOP", "nats": { "type": "operator", "version": 2 } }))
}

/// An account JWT with unlimited limits; `revocations` maps user public keys to a time
/// (JWTs of that user issued at or before it are revoked).
fn account_jwt(op: &KeyPair, acc: &KeyPair, revocations: serde_json::Value) -> String {
    encode_jwt(
        op,
        json!({
            "sub": acc.public_key(),
            "name": "TESTACC",
            "nats": {
                "type": "account",
                "version": 2,
                "limits": {
                    "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                    "wildcards": true, "conn": -1, "leaf": -1
                },
                "revocations": revocations,
            }
        }),
    )
}

/// A user JWT signed by the account key, expiring at `exp` when given.
fn user_jwt(acc: &KeyPair, user: &KeyPair, exp: Option<i64>) -> String {
    let mut c = json!({
        "sub": user.public_key(),
        "name": "TESTUSER",
        "nats": {
            "type": "user", "version": 2,
            "pub": {}, "sub": {},
            "subs": -1, "data": -1, "payload": -1
        }
    });
    if let Some(e) = exp {
        c["exp"] = json!(e);
    }
    encode_jwt(acc, c)
}

/// The chained `.creds` file content (as written by nsc).
fn creds(jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}

/// An operator, one account and the server configuration trusting them.
struct Operator {
    op: KeyPair,
    acc: KeyPair,
}

impl Operator {
    fn new() -> Operator {
        Operator { op: KeyPair::new_operator(), acc: KeyPair::new_account() }
    }

    /// Server configuration in operator mode with a memory resolver preloaded with the account.
    fn config(&self, revocations: serde_json::Value) -> String {
        format!(
            "operator: {}\nresolver: MEMORY\nresolver_preload: {{\n  {}: {}\n}}\n",
            operator_jwt(&self.op),
            self.acc.public_key(),
            account_jwt(&self.op, &self.acc, revocations)
        )
    }

    /// A new user of the account: (key pair, JWT, seed).
    fn user(&self, exp: Option<i64>) -> (KeyPair, String, String) {
        let u = KeyPair::new_user();
        let jwt = user_jwt(&self.acc, &u, exp);
        let seed = u.seed().unwrap();
        (u, jwt, seed)
    }
}

fn start_with_config(dir: &TempDir, conf: &str) -> NatsServer {
    let f = dir.write("server.conf", conf);
    NatsServer::start_with(&["-c", &f])
}

fn opts(srv: &NatsServer, auth: Auth) -> Options {
    Options { url: Some(srv.url()), auth, ..Default::default() }
}

/// Subscribes, publishes and checks the message comes back.
fn assert_pub_sub(nc: &Conn, subj: &str) {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let tx = Mutex::new(tx);
    let sub = nc
        .subscribe(
            subj,
            None,
            Some(Arc::new(move |_c, _s, m: Option<Box<nats::core::msg::Msg>>| {
                if let Some(m) = m {
                    let _ = tx.lock().unwrap().send(m.data().to_vec());
                }
            })),
            0,
        )
        .expect("subscribe");
    nc.flush_timeout(FLUSH_MS).expect("flush after subscribe");
    nc.publish(subj.as_bytes(), None, None, b"hello").expect("publish");
    nc.flush_timeout(FLUSH_MS).expect("flush after publish");
    let got = rx.recv_timeout(WAIT).expect("message not received");
    assert_eq!(got, b"hello");
    let _ = nc.unsubscribe(&sub, 0);
}

fn signer_from(kp: KeyPair) -> nats::core::auth::SignCallback {
    Arc::new(move |nonce: &str| {
        kp.sign(nonce.as_bytes())
            .map_err(|e| Error::with_text(Status::Err, format!("sign: {e}")))
    })
}

// ----- NKey users -----

/// cnats: natsOptions_SetNKeyFromSeed reads the seed file at connect, signs the server's
/// nonce and sends `nkey` + `sig` in CONNECT; the server accepts the NKey user.
#[test]
fn nkey_seed_file_connects() {
    let dir = TempDir::new();
    let user = KeyPair::new_user();
    let srv = start_with_config(&dir, &format!("authorization {{ users = [ {{ nkey: {} }} ] }}\n", user.public_key()));
    let seed = dir.write("user.nk", &format!("{}\n", user.seed().unwrap()));
    let nc = connect_with(opts(&srv, Auth::NKey { public_key: user.public_key(), sign: NKeySigner::SeedFile(seed) }));
    assert_pub_sub(&nc, "nkey.file");
}

/// cnats: natsOptions_SetNKey calls the user's signature callback with the nonce and sends
/// its result (base64url) as `sig`.
#[test]
fn nkey_callback_connects() {
    let dir = TempDir::new();
    let user = KeyPair::new_user();
    let pk = user.public_key();
    let srv = start_with_config(&dir, &format!("authorization {{ users = [ {{ nkey: {pk} }} ] }}\n"));
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let inner = signer_from(user);
    let sign: nats::core::auth::SignCallback = Arc::new(move |nonce: &str| {
        c2.fetch_add(1, Ordering::SeqCst);
        assert!(!nonce.is_empty(), "nonce must not be empty");
        inner(nonce)
    });
    let nc = connect_with(opts(&srv, Auth::NKey { public_key: pk, sign: NKeySigner::Callback(sign) }));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "signature callback called once per connect");
    assert_pub_sub(&nc, "nkey.cb");
}

/// cnats: a signature by the wrong key makes the server answer `-ERR 'Authorization
/// Violation'`; natsConnection_Connect fails with NATS_CONNECTION_AUTH_FAILED.
#[test]
fn nkey_wrong_seed_fails_auth() {
    let dir = TempDir::new();
    let user = KeyPair::new_user();
    let other = KeyPair::new_user();
    let srv = start_with_config(&dir, &format!("authorization {{ users = [ {{ nkey: {} }} ] }}\n", user.public_key()));
    let seed = dir.write("other.nk", &other.seed().unwrap());
    let mut o = opts(&srv, Auth::NKey { public_key: user.public_key(), sign: NKeySigner::SeedFile(seed) });
    o.allow_reconnect = false;
    let e = connect_err(o);
    assert_eq!(e.status, Status::ConnectionAuthFailed, "{}", e.message());
    assert!(e.message().to_lowercase().contains("authorization violation"), "{}", e.message());

    // Same with a callback signing with the wrong key.
    let o = opts(&srv, Auth::NKey { public_key: user.public_key(), sign: NKeySigner::Callback(signer_from(other)) });
    let e = connect_err(o);
    assert_eq!(e.status, Status::ConnectionAuthFailed, "{}", e.message());
}

// ----- JWT / operator mode -----

/// cnats: natsOptions_SetUserCredentialsFromFiles(opts, "user.creds", NULL) reads the JWT
/// and the seed from one chained file and authenticates with `jwt` + `sig`.
#[test]
fn jwt_chained_creds_file() {
    let dir = TempDir::new();
    let o = Operator::new();
    let srv = start_with_config(&dir, &o.config(json!({})));
    let (_u, jwt, seed) = o.user(None);
    let f = dir.write("user.creds", &creds(&jwt, &seed));
    let nc = connect_with(opts(&srv, Auth::Creds(UserCreds::Files { user_or_chained: f, seed_file: None })));
    assert_pub_sub(&nc, "jwt.chained");
}

/// cnats: natsOptions_SetUserCredentialsFromFiles(opts, "user.jwt", "user.nk") reads the
/// JWT from the first file (a bare JWT or framed) and the seed from the second.
#[test]
fn jwt_separate_jwt_and_seed_files() {
    let dir = TempDir::new();
    let o = Operator::new();
    let srv = start_with_config(&dir, &o.config(json!({})));
    let (_u, jwt, seed) = o.user(None);
    let jf = dir.write("user.jwt", &format!("-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n"));
    let sf = dir.write("user.nk", &format!("-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"));
    let nc = connect_with(opts(&srv, Auth::Creds(UserCreds::Files { user_or_chained: jf, seed_file: Some(sf.clone()) })));
    assert_pub_sub(&nc, "jwt.files");

    // A seed file holding only the raw seed line is accepted too (cnats looks for "SU").
    let sf2 = dir.write("user2.nk", &format!("{seed}\n"));
    let jf2 = dir.write("user2.jwt", &format!("-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n"));
    let nc2 = connect_with(opts(&srv, Auth::Creds(UserCreds::Files { user_or_chained: jf2, seed_file: Some(sf2) })));
    assert_pub_sub(&nc2, "jwt.files2");
}

/// cnats: natsOptions_SetUserCredentialsFromMemory takes the content of a chained creds file.
#[test]
fn jwt_creds_from_memory() {
    let dir = TempDir::new();
    let o = Operator::new();
    let srv = start_with_config(&dir, &o.config(json!({})));
    let (_u, jwt, seed) = o.user(None);
    let mem = UserCreds::Memory(Arc::new(Zeroizing::new(creds(&jwt, &seed))));
    let nc = connect_with(opts(&srv, Auth::Creds(mem)));
    assert_pub_sub(&nc, "jwt.mem");
}

/// cnats: natsOptions_SetUserCredentialsCallbacks calls the JWT callback and the signature
/// callback (with the server's nonce) at each connect.
#[test]
fn jwt_creds_callbacks() {
    let dir = TempDir::new();
    let o = Operator::new();
    let srv = start_with_config(&dir, &o.config(json!({})));
    let (u, jwt, _seed) = o.user(None);
    let jwt_calls = Arc::new(AtomicUsize::new(0));
    let jc = jwt_calls.clone();
    let auth = Auth::CredsCallbacks {
        jwt: Arc::new(move || {
            jc.fetch_add(1, Ordering::SeqCst);
            Ok(jwt.clone())
        }),
        sign: signer_from(u),
    };
    let nc = connect_with(opts(&srv, auth));
    assert_eq!(jwt_calls.load(Ordering::SeqCst), 1);
    assert_pub_sub(&nc, "jwt.cb");
}

/// cnats: a user JWT whose `exp` is in the past is refused by the server (`-ERR
/// 'Authorization Violation'`); natsConnection_Connect returns NATS_CONNECTION_AUTH_FAILED and
/// the error text carries the server's reason.
#[test]
fn jwt_expired_user_fails_auth() {
    let dir = TempDir::new();
    let o = Operator::new();
    let srv = start_with_config(&dir, &o.config(json!({})));
    let (_u, jwt, seed) = o.user(Some(now() - 60));
    let f = dir.write("user.creds", &creds(&jwt, &seed));
    let e = connect_err(opts(&srv, Auth::Creds(UserCreds::Files { user_or_chained: f, seed_file: None })));
    assert_eq!(e.status, Status::ConnectionAuthFailed, "{}", e.message());
    let m = e.message().to_lowercase();
    assert!(m.contains("authorization violation") || m.contains("expired"), "error text: {}", e.message());
}

/// Callbacks of a connection whose user JWT expires while connected: every error handler
/// call with the connection's last error text at that time, disconnects and closes.
struct ExpiryWatch {
    errs: mpsc::Receiver<(Status, String)>,
    disc: mpsc::Receiver<()>,
    closed: mpsc::Receiver<()>,
}

fn expiring_client(allow_reconnect: bool) -> (TempDir, NatsServer, Client, ExpiryWatch) {
    let dir = TempDir::new();
    let o = Operator::new();
    let srv = start_with_config(&dir, &o.config(json!({})));
    let (_u, jwt, seed) = o.user(Some(now() + 2));
    let f = dir.write("user.creds", &creds(&jwt, &seed));
    let (etx, errs) = mpsc::channel::<(Status, String)>();
    let etx = Mutex::new(etx);
    let (dtx, disc) = mpsc::channel::<()>();
    let dtx = Mutex::new(dtx);
    let (ctx, closed) = mpsc::channel::<()>();
    let ctx = Mutex::new(ctx);
    let mut op = opts(&srv, Auth::Creds(UserCreds::Files { user_or_chained: f, seed_file: None }));
    op.allow_reconnect = allow_reconnect;
    op.reconnect_wait_ms = 300;
    op.err_handler = Some(Arc::new(move |c: &Arc<Conn>, _s, st| {
        let text = c.last_error().1.unwrap_or_default();
        let _ = etx.lock().unwrap().send((st, text));
    }));
    op.disconnected_cb = Some(Arc::new(move |_c| {
        let _ = dtx.lock().unwrap().send(());
    }));
    op.closed_cb = Some(Arc::new(move |_c| {
        let _ = ctx.lock().unwrap().send(());
    }));
    let nc = connect_with(op);
    assert_pub_sub(&nc, "jwt.exp");
    (dir, srv, nc, ExpiryWatch { errs, disc, closed })
}

/// cnats: when the user JWT expires while connected the server sends `-ERR 'User
/// Authentication Expired'` and closes the socket. natsConn_processErr ->
/// _processAuthError sets nc->err = NATS_CONNECTION_AUTH_FAILED with the server's text and
/// posts the error handler (the connection is not in its initial connect). Without
/// reconnect the socket close ends the connection: _processOpError sets nc->err to the read
/// status, NATS_CONNECTION_CLOSED, and the text stays the server's.
#[test]
fn jwt_expiring_while_connected_reports_auth_failed() {
    let (_dir, _srv, nc, w) = expiring_client(false);
    let long = Duration::from_secs(8);
    w.closed.recv_timeout(long).expect("connection not closed after the JWT expired");
    assert!(nc.is_closed());
    let (last, text) = nc.last_error();
    let text = text.unwrap_or_default();
    // cnats ends with the status of the socket close and keeps the server's text.
    assert_eq!(last, Status::ConnectionClosed, "last error text: {text}");
    assert!(text.to_lowercase().contains("authentication expired"), "last error text: {text}");
    let (st, _) = w
        .errs
        .recv_timeout(WAIT)
        .expect("error handler not called for -ERR 'User Authentication Expired' (cnats posts NATS_CONNECTION_AUTH_FAILED)");
    assert_eq!(st, Status::ConnectionAuthFailed);
}

/// cnats: with reconnect allowed, the expiry (-ERR 'User Authentication Expired', auth
/// error code "expired") is reported to the error handler, then each reconnect attempt is
/// refused with 'Authorization Violation' (code "violation", reported too); the second
/// violation in a row from the same server makes cnats give up and close the connection.
/// So the handler sees NATS_CONNECTION_AUTH_FAILED at least twice, the first about the
/// expiry, and the connection ends closed with that status.
#[test]
fn jwt_expiring_while_connected_reconnects_then_closes() {
    let (_dir, _srv, nc, w) = expiring_client(true);
    let long = Duration::from_secs(10);
    w.disc.recv_timeout(long).expect("disconnected callback not called after the JWT expired");
    w.closed.recv_timeout(long).expect("connection not closed after repeated auth failures");
    assert!(nc.is_closed());
    let (last, text) = nc.last_error();
    assert_eq!(last, Status::ConnectionAuthFailed, "last error text: {text:?}");
    // Events run one at a time in posting order and the closed callback is posted last,
    // so every error handler call has run by now.
    let errs: Vec<(Status, String)> = w.errs.try_iter().collect();
    assert!(errs.iter().all(|(s, _)| *s == Status::ConnectionAuthFailed), "{errs:?}");
    // The expiry, then at least one more refusal before the library gives up. How many
    // depends on the server: JWT expiry has one-second granularity, so a reconnect within
    // the expiry second can be accepted and expired again (more "expired" reports), and the
    // refusal at CONNECT may say "expired" or "authorization violation".
    assert!(errs.len() >= 2, "error handler calls: {errs:?}");
    assert!(errs[0].1.to_lowercase().contains("authentication expired"), "{errs:?}");
}

/// cnats: credential files are read again at every (re)connect, so a creds file rotated on
/// disk is used by the next reconnect. The first user is revoked in the account JWT the
/// restarted server loads, so the reconnect can only succeed with the new file. Replacing
/// the file with garbage makes every reconnect attempt fail until the connection is closed.
#[test]
fn creds_rotated_on_disk_between_reconnects() {
    let dir = TempDir::new();
    let o = Operator::new();
    let conf_path = dir.write("server.conf", &o.config(json!({})));
    let mut srv = NatsServer::start_with(&["-c", &conf_path]);
    let (u1, jwt1, seed1) = o.user(None);
    let (_u2, jwt2, seed2) = o.user(None);
    let f = dir.write("user.creds", &creds(&jwt1, &seed1));

    let (rtx, rrx) = mpsc::channel::<()>();
    let rtx = Mutex::new(rtx);
    let (ctx, crx) = mpsc::channel::<()>();
    let ctx = Mutex::new(ctx);
    let mut op = opts(&srv, Auth::Creds(UserCreds::Files { user_or_chained: f.clone(), seed_file: None }));
    op.reconnect_wait_ms = 100;
    op.max_reconnect = 20;
    op.reconnected_cb = Some(Arc::new(move |_c| {
        let _ = rtx.lock().unwrap().send(());
    }));
    op.closed_cb = Some(Arc::new(move |_c| {
        let _ = ctx.lock().unwrap().send(());
    }));
    op.err_handler = Some(Arc::new(|_c, _s, _st| {}));
    let nc = connect_with(op);
    assert_pub_sub(&nc, "rot.1");

    // Rotate: the file now holds user 2; the restarted server revokes user 1.
    dir.write("user.creds", &creds(&jwt2, &seed2));
    std::fs::write(&conf_path, o.config(json!({ u1.public_key(): now() + 3600 }))).unwrap();
    srv.restart();
    rrx.recv_timeout(Duration::from_secs(10)).expect("no reconnect with the rotated credentials");
    assert_pub_sub(&nc, "rot.2");

    // Sanity: user 1's credentials are really refused by the restarted server.
    let old = dir.write("old.creds", &creds(&jwt1, &seed1));
    let e = connect_err(opts(&srv, Auth::Creds(UserCreds::Files { user_or_chained: old, seed_file: None })));
    assert_eq!(e.status, Status::ConnectionAuthFailed, "{}", e.message());

    // Garbage in the file: reconnects cannot produce a JWT, the connection ends up closed.
    dir.write("user.creds", "this is not a creds file\n");
    srv.restart();
    crx.recv_timeout(Duration::from_secs(10)).expect("connection not closed after reconnects with a garbage creds file");
    assert!(nc.is_closed());
    assert!(rrx.try_recv().is_err(), "must not reconnect with a garbage creds file");
}
