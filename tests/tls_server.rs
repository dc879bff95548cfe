//! TLS integration tests of the core (`nats::core`) against a real `nats-server`.
//!
//! Each test makes its own PKI with rcgen in a private temporary directory (a CA, a server
//! certificate for 127.0.0.1 and localhost, a client certificate, and an unrelated CA), writes
//! a server configuration with a `tls {}` block, and starts the server on a free loopback
//! port. Each test names the cnats 3.13 behaviour it pins (cnats built with OpenSSL and its
//! default forced host name verification).

mod common;

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use common::NatsServer;
use nats::core::conn::Conn;
use nats::core::options::Options;
use nats::core::status::{ConnStatus, Error, Status};
use nats::core::tls::TlsOptions;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};

const WAIT: Duration = Duration::from_secs(5);

// ----- PKI -----

struct Pki {
    dir: PathBuf,
    ca_pem: String,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    client_cert_pem: String,
    client_key_pem: String,
    other_ca_pem: String,
    /// A client certificate from the unrelated CA.
    rogue_cert: PathBuf,
    rogue_key: PathBuf,
}

impl Pki {
    fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    fn other_ca_file(&self) -> PathBuf {
        self.dir.join("other-ca.pem")
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn new_ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(p, key))
}

fn leaf(issuer: &Issuer<'static, KeyPair>, names: &[&str], cn: &str, usage: ExtendedKeyUsagePurpose) -> (String, String) {
    let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![usage];
    p.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn pki() -> Pki {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("nats-rs-tls-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca_pem, ca) = new_ca("nats test CA");
    let (other_ca_pem, other_ca) = new_ca("unrelated CA");
    let (srv_cert, srv_key) = leaf(&ca, &["localhost", "127.0.0.1"], "localhost", ExtendedKeyUsagePurpose::ServerAuth);
    let (cli_cert, cli_key) = leaf(&ca, &["client.example"], "client", ExtendedKeyUsagePurpose::ClientAuth);
    let (rogue_cert, rogue_key) = leaf(&other_ca, &["rogue.example"], "rogue", ExtendedKeyUsagePurpose::ClientAuth);
    let w = |name: &str, content: &str| -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        p
    };
    w("ca.pem", &ca_pem);
    w("other-ca.pem", &other_ca_pem);
    Pki {
        server_cert: w("server-cert.pem", &srv_cert),
        server_key: w("server-key.pem", &srv_key),
        client_cert: w("client-cert.pem", &cli_cert),
        client_key: w("client-key.pem", &cli_key),
        rogue_cert: w("rogue-cert.pem", &rogue_cert),
        rogue_key: w("rogue-key.pem", &rogue_key),
        client_cert_pem: cli_cert,
        client_key_pem: cli_key,
        ca_pem,
        other_ca_pem,
        dir,
    }
}

/// Server TLS settings.
#[derive(Default)]
struct ServerTls {
    verify: bool,
    handshake_first: bool,
    allow_non_tls: bool,
}

fn tls_server(pki: &Pki, t: ServerTls) -> NatsServer {
    let q = |p: &Path| format!("\"{}\"", p.display());
    let mut conf = format!(
        "tls {{\n  cert_file: {}\n  key_file: {}\n  ca_file: {}\n  verify: {}\n  timeout: 2\n",
        q(&pki.server_cert),
        q(&pki.server_key),
        q(&pki.ca_file()),
        t.verify
    );
    if t.handshake_first {
        conf.push_str("  handshake_first: true\n");
    }
    conf.push_str("}\n");
    if t.allow_non_tls {
        conf.push_str("allow_non_tls: true\n");
    }
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let file = pki.dir.join(format!("server-{}.conf", SEQ.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&file, conf).unwrap();
    let f = file.to_string_lossy().into_owned();
    if t.handshake_first {
        NatsServer::start_tls_first(&["-c", &f])
    } else {
        NatsServer::start_with(&["-c", &f])
    }
}

// ----- client helpers -----

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

fn opts(url: String, tls: Option<TlsOptions>, secure: bool) -> Options {
    Options {
        url: Some(url),
        secure,
        tls: tls.map(Arc::new),
        timeout_ms: 3_000,
        allow_reconnect: false,
        ..Default::default()
    }
}

fn with_ca(pki: &Pki) -> TlsOptions {
    let mut t = TlsOptions::new();
    t.load_ca_file(pki.ca_file().to_str().unwrap()).unwrap();
    t
}

fn connect(o: Options) -> Client {
    match Conn::connect(o) {
        Ok(c) => Client(c),
        Err(e) => panic!("connect failed: {:?} {}", e.status, e.message()),
    }
}

fn connect_err(o: Options) -> Error {
    match Conn::connect(o) {
        Ok(c) => {
            c.close();
            panic!("connect should have failed")
        }
        Err(e) => e,
    }
}

/// Publish, subscribe and request round trips.
fn exercise(nc: &Conn) {
    let sub = nc.subscribe("tls.x", None, None, 0).unwrap();
    nc.flush_timeout(5_000).unwrap();
    for i in 0..100u32 {
        nc.publish(b"tls.x", None, None, format!("m{i}").as_bytes()).unwrap();
    }
    for i in 0..100u32 {
        assert_eq!(sub.next_msg(5_000).unwrap().data(), format!("m{i}").as_bytes());
    }
    // A large message crosses several TLS records.
    let big = vec![b'z'; 256 * 1024];
    nc.publish(b"tls.x", None, None, &big).unwrap();
    assert_eq!(sub.next_msg(5_000).unwrap().data(), &big[..]);

    let responder: nats::core::sub::MsgCallback = Arc::new(|c: &Arc<Conn>, _s, m| {
        if let Some(m) = m {
            if let Some(r) = m.reply() {
                let mut d = b"re:".to_vec();
                d.extend_from_slice(m.data());
                let _ = c.publish(r, None, None, &d);
            }
        }
    });
    let _svc = nc.subscribe("tls.svc", None, Some(responder), 0).unwrap();
    nc.flush_timeout(5_000).unwrap();
    let r = nc.request(b"tls.svc", None, b"ping", 5_000).unwrap();
    assert_eq!(r.data(), b"re:ping");
}

// ----- tests -----

#[test]
fn verified_connection_with_the_ca_carries_pub_sub_and_requests() {
    // cnats: SetSecure + LoadCATrustedCertificates verifies the server's chain and its name
    // (the URL's host, here an IP address in the certificate); traffic then flows over TLS.
    let pki = pki();
    let srv = tls_server(&pki, ServerTls::default());
    let nc = connect(opts(srv.url(), Some(with_ca(&pki)), true));
    assert_eq!(nc.status(), ConnStatus::Connected);
    let local = nc.local_addr().unwrap();
    assert!(local.ip().is_loopback());
    assert_ne!(local.port(), srv.port());
    exercise(&nc);
}

#[test]
fn tls_scheme_and_host_name_url() {
    // cnats: a tls:// URL turns TLS on; the host name of the URL is verified.
    let pki = pki();
    let srv = tls_server(&pki, ServerTls::default());
    let mut o = opts(format!("tls://localhost:{}", srv.port()), Some(with_ca(&pki)), false);
    o.secure = false;
    let nc = connect(o);
    nc.flush_timeout(5_000).unwrap();
    assert_eq!(nc.connected_url().unwrap(), format!("tls://localhost:{}", srv.port()));
}

#[test]
fn ca_from_memory_and_from_a_directory() {
    // cnats: SetCATrustedCertificates (PEM text) and LoadCATrustedCertificatesPath (directory).
    let pki = pki();
    let srv = tls_server(&pki, ServerTls::default());
    let mut t = TlsOptions::new();
    t.add_ca_pem(&pki.ca_pem).unwrap();
    connect(opts(srv.url(), Some(t), true)).flush_timeout(5_000).unwrap();

    let cadir = pki.dir.join("cadir");
    std::fs::create_dir_all(&cadir).unwrap();
    std::fs::write(cadir.join("ca.pem"), &pki.ca_pem).unwrap();
    std::fs::write(cadir.join("README"), "not a certificate").unwrap();
    let mut t = TlsOptions::new();
    t.load_ca_dir(cadir.to_str().unwrap()).unwrap();
    connect(opts(srv.url(), Some(t), true)).flush_timeout(5_000).unwrap();
}

#[test]
fn hostname_mismatch_is_refused() {
    // cnats: with an expected host name the certificate must be valid for it: NATS_SSL_ERROR.
    let pki = pki();
    let srv = tls_server(&pki, ServerTls::default());
    let mut t = with_ca(&pki);
    t.set_expected_hostname(Some("wrong.example"));
    let e = connect_err(opts(srv.url(), Some(t), true));
    assert_eq!(e.status, Status::SslError, "{}", e.message());
    assert!(e.message().contains("hostname mismatch"), "{}", e.message());
    assert!(e.message().contains("wrong.example"), "{}", e.message());

    // The right expected name works even when the URL is an IP address.
    let mut t = with_ca(&pki);
    t.set_expected_hostname(Some("localhost"));
    connect(opts(srv.url(), Some(t), true)).flush_timeout(5_000).unwrap();

    // "" verifies the chain but no name (OpenSSL's SSL_set1_host(ssl, "")).
    let mut t = with_ca(&pki);
    t.set_expected_hostname(Some(""));
    connect(opts(format!("nats://localhost:{}", srv.port()), Some(t), true)).flush_timeout(5_000).unwrap();
}

#[test]
fn unknown_ca_is_refused() {
    // cnats: a server certificate from a CA that is not trusted fails with NATS_SSL_ERROR,
    // whether another CA was loaded or only the system's roots are trusted.
    let pki = pki();
    let srv = tls_server(&pki, ServerTls::default());
    let mut t = TlsOptions::new();
    t.load_ca_file(pki.other_ca_file().to_str().unwrap()).unwrap();
    let e = connect_err(opts(srv.url(), Some(t), true));
    assert_eq!(e.status, Status::SslError, "{}", e.message());
    assert!(e.message().contains("unknown CA"), "{}", e.message());

    let e = connect_err(opts(srv.url(), None, true));
    assert_eq!(e.status, Status::SslError, "{}", e.message());

    let mut t = TlsOptions::new();
    t.add_ca_pem(&pki.other_ca_pem).unwrap();
    let e = connect_err(opts(srv.url(), Some(t), true));
    assert_eq!(e.status, Status::SslError, "{}", e.message());
}

#[test]
fn skip_verification_connects() {
    // cnats: SkipServerVerification accepts any server certificate.
    let pki = pki();
    let srv = tls_server(&pki, ServerTls::default());
    let mut t = TlsOptions::new();
    t.set_skip_verify(true);
    t.set_expected_hostname(Some("wrong.example"));
    let nc = connect(opts(srv.url(), Some(t), true));
    exercise(&nc);
}

#[test]
fn mutual_tls_needs_a_client_certificate() {
    // cnats: with `verify: true` the server asks for a client certificate: the chain loaded
    // with LoadCertificatesChain (files), SetCertificatesChain (memory) or
    // LoadCertificatesChainDynamic works; without one the connection fails.
    let pki = pki();
    let srv = tls_server(&pki, ServerTls { verify: true, ..Default::default() });

    let e = connect_err(opts(srv.url(), Some(with_ca(&pki)), true));
    assert_eq!(e.status, Status::SslError, "{}", e.message());

    let mut t = with_ca(&pki);
    t.load_cert_chain_files(pki.client_cert.to_str().unwrap(), pki.client_key.to_str().unwrap()).unwrap();
    let nc = connect(opts(srv.url(), Some(t), true));
    exercise(&nc);

    let mut t = with_ca(&pki);
    t.set_cert_chain_pem(&pki.client_cert_pem, &pki.client_key_pem).unwrap();
    connect(opts(srv.url(), Some(t), true)).flush_timeout(5_000).unwrap();

    // Dynamic: the files are read at each handshake, so a missing file shows up at connect.
    let dyn_cert = pki.dir.join("dyn-cert.pem");
    let dyn_key = pki.dir.join("dyn-key.pem");
    let mut t = with_ca(&pki);
    t.load_cert_chain_dynamic(dyn_cert.to_str().unwrap(), dyn_key.to_str().unwrap());
    let t = Arc::new(t);
    let o = Options { tls: Some(t.clone()), ..opts(srv.url(), None, true) };
    let e = connect_err(o.clone());
    assert_eq!(e.status, Status::SslError, "{}", e.message());
    assert!(e.message().contains("dyn-cert.pem"), "{}", e.message());
    std::fs::copy(&pki.client_cert, &dyn_cert).unwrap();
    std::fs::copy(&pki.client_key, &dyn_key).unwrap();
    connect(o).flush_timeout(5_000).unwrap();
}

#[test]
fn handshake_first() {
    // cnats: TLSHandshakeFirst starts TLS before the server's INFO, for servers configured
    // with `handshake_first`; it implies a secure connection.
    let pki = pki();
    let srv = tls_server(&pki, ServerTls { handshake_first: true, ..Default::default() });
    let mut o = opts(srv.url(), Some(with_ca(&pki)), false);
    o.tls_handshake_first = true;
    let nc = connect(o);
    exercise(&nc);

    // Without it, the client waits for an INFO that the server never sends in clear.
    let mut o = opts(srv.url(), Some(with_ca(&pki)), true);
    o.timeout_ms = 500;
    assert!(Conn::connect(o).is_err());
}

#[test]
fn server_requiring_tls_upgrades_a_client_that_did_not_ask() {
    // cnats' _checkForSecure: when the server requires TLS and the client did not set
    // Secure, the client switches to TLS with the TLS settings it has (here the CA), or the
    // defaults (the system's roots, which do not know our CA).
    let pki = pki();
    let srv = tls_server(&pki, ServerTls::default());
    let nc = connect(opts(srv.url(), Some(with_ca(&pki)), false));
    exercise(&nc);

    let e = connect_err(opts(srv.url(), None, false));
    assert_eq!(e.status, Status::SslError, "{}", e.message());
}

#[test]
fn secure_wanted_but_server_has_no_tls() {
    // cnats: Secure set and the server offers no TLS: NATS_SECURE_CONNECTION_WANTED.
    let srv = NatsServer::start();
    let e = connect_err(opts(srv.url(), None, true));
    assert_eq!(e.status, Status::SecureConnectionWanted, "{}", e.message());
}

#[test]
fn tls_available_server_accepts_both() {
    // cnats: a server with `allow_non_tls` offers TLS (tls_available): a secure client
    // upgrades, a plain one stays plain.
    let pki = pki();
    let srv = tls_server(&pki, ServerTls { allow_non_tls: true, ..Default::default() });
    connect(opts(srv.url(), Some(with_ca(&pki)), true)).flush_timeout(5_000).unwrap();
    connect(opts(srv.url(), None, false)).flush_timeout(5_000).unwrap();
}

#[test]
fn cipher_lists() {
    // cnats test_SSLCiphers: "-ALL:RSA" without TLS 1.3 suites leaves nothing the server
    // accepts (the connect fails); "-ALL:HIGH" with TLS_AES_128_GCM_SHA256 works; TLS 1.2
    // alone works.
    let pki = pki();
    let srv = tls_server(&pki, ServerTls::default());
    let mut t = with_ca(&pki);
    t.set_ciphers("-ALL:RSA").unwrap();
    t.set_cipher_suites("").unwrap();
    let e = connect_err(opts(srv.url(), Some(t), true));
    assert_eq!(e.status, Status::SslError, "{}", e.message());

    let mut t = with_ca(&pki);
    t.set_ciphers("-ALL:HIGH").unwrap();
    t.set_cipher_suites("TLS_AES_128_GCM_SHA256").unwrap();
    connect(opts(srv.url(), Some(t), true)).flush_timeout(5_000).unwrap();

    let mut t = with_ca(&pki);
    t.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305").unwrap();
    t.set_cipher_suites("").unwrap();
    let nc = connect(opts(srv.url(), Some(t), true));
    exercise(&nc);
}

#[test]
fn reconnects_over_tls_after_server_restart() {
    // cnats test_SSLBasic "Check reconnects OK": the reconnect performs a new TLS handshake
    // and the subscriptions work again.
    let pki = pki();
    let mut srv = tls_server(&pki, ServerTls { verify: true, ..Default::default() });
    let (rec_tx, rec_rx) = mpsc::channel();
    let mut t = with_ca(&pki);
    t.load_cert_chain_files(pki.client_cert.to_str().unwrap(), pki.client_key.to_str().unwrap()).unwrap();
    let mut o = opts(srv.url(), Some(t), true);
    o.allow_reconnect = true;
    o.reconnect_wait_ms = 50;
    o.reconnect_jitter_ms = 0;
    o.reconnect_jitter_tls_ms = 0;
    o.reconnected_cb = Some(Arc::new(move |_c: &Arc<Conn>| {
        let _ = rec_tx.send(());
    }));
    let nc = connect(o);
    let sub = nc.subscribe("tls.rc", None, None, 0).unwrap();
    nc.flush_timeout(5_000).unwrap();

    srv.restart();
    rec_rx.recv_timeout(WAIT).expect("reconnected callback");
    assert_eq!(nc.status(), ConnStatus::Connected);
    nc.publish(b"tls.rc", None, None, b"again").unwrap();
    nc.flush_timeout(5_000).unwrap();
    assert_eq!(sub.next_msg(5_000).unwrap().data(), b"again");
    assert!(nc.local_addr().is_ok());
}

#[test]
fn tls_sessions_on_an_external_event_loop() {
    // cnats: with natsOptions_SetEventLoop the loop polls the TLS socket too; the library
    // reads and writes it (through its TLS state) only on the loop's events. Traffic,
    // large messages across records, requests and a reconnect with a new handshake.
    use common::evloop::{wait_for, PollLoop};
    let pki = pki();
    let mut srv = tls_server(&pki, ServerTls::default());
    let lp = PollLoop::start();
    let (rec_tx, rec_rx) = mpsc::channel();
    let mut o = opts(srv.url(), Some(with_ca(&pki)), true);
    o.event_loop = Some(lp.clone());
    o.allow_reconnect = true;
    o.reconnect_wait_ms = 50;
    o.reconnect_jitter_tls_ms = 0;
    o.reconnected_cb = Some(Arc::new(move |_c: &Arc<Conn>| {
        let _ = rec_tx.send(());
    }));
    let nc = connect(o);
    assert_eq!(lp.counts.attach.load(Ordering::SeqCst), 1);
    exercise(&nc);
    assert!(lp.counts.read_events.load(Ordering::SeqCst) > 0);
    assert!(lp.counts.write_events.load(Ordering::SeqCst) > 0);

    srv.restart();
    rec_rx.recv_timeout(WAIT).expect("reconnected callback");
    assert_eq!(lp.counts.attach.load(Ordering::SeqCst), 2);
    assert_eq!(lp.counts.closed.load(Ordering::SeqCst), 1, "the old socket is closed by the loop");
    exercise(&nc);

    let weak = Arc::downgrade(&nc.0);
    nc.close();
    assert_eq!(lp.counts.detach.load(Ordering::SeqCst), 1);
    assert_eq!(lp.open_sockets(), 0);
    drop(nc);
    // The loop's reference was released after the detach: nothing keeps the connection.
    assert!(wait_for(WAIT, || weak.upgrade().is_none()), "connection still referenced");
    lp.stop();
}

#[test]
fn dynamic_certificates_are_read_again_on_reconnect() {
    // cnats test_SSLVerifyDynamic: LoadCertificatesChainDynamic reads the files at every
    // handshake, so the certificate in the files at reconnect time is the one presented
    // (no TLS session is resumed): a certificate the server does not trust stops the
    // reconnect, the good one restored lets it through.
    let pki = pki();
    let mut srv = tls_server(&pki, ServerTls { verify: true, ..Default::default() });
    let dyn_cert = pki.dir.join("dyn-cert.pem");
    let dyn_key = pki.dir.join("dyn-key.pem");
    std::fs::copy(&pki.client_cert, &dyn_cert).unwrap();
    std::fs::copy(&pki.client_key, &dyn_key).unwrap();
    let mut t = with_ca(&pki);
    t.load_cert_chain_dynamic(dyn_cert.to_str().unwrap(), dyn_key.to_str().unwrap());
    let (rec_tx, rec_rx) = mpsc::channel();
    let mut o = opts(srv.url(), Some(t), true);
    o.allow_reconnect = true;
    o.max_reconnect = -1;
    o.reconnect_wait_ms = 50;
    o.reconnect_jitter_ms = 0;
    o.reconnect_jitter_tls_ms = 0;
    o.reconnected_cb = Some(Arc::new(move |_c: &Arc<Conn>| {
        let _ = rec_tx.send(());
    }));
    let nc = connect(o);
    nc.flush_timeout(5_000).unwrap();

    std::fs::copy(&pki.rogue_cert, &dyn_cert).unwrap();
    std::fs::copy(&pki.rogue_key, &dyn_key).unwrap();
    srv.restart();
    assert!(rec_rx.recv_timeout(Duration::from_millis(1_500)).is_err(), "reconnected with an untrusted certificate");
    assert_eq!(nc.status(), ConnStatus::Reconnecting);

    std::fs::copy(&pki.client_cert, &dyn_cert).unwrap();
    std::fs::copy(&pki.client_key, &dyn_key).unwrap();
    rec_rx.recv_timeout(WAIT).expect("reconnected callback");
    nc.flush_timeout(5_000).unwrap();
}

#[test]
fn bad_tls_inputs() {
    // cnats: unreadable or invalid files are NATS_SSL_ERROR when set; a key that does not
    // match its certificate too.
    let pki = pki();
    let mut t = TlsOptions::new();
    assert_eq!(t.load_ca_file(pki.server_key.to_str().unwrap()).unwrap_err().status, Status::SslError);
    let e = t
        .load_cert_chain_files(pki.client_cert.to_str().unwrap(), pki.server_key.to_str().unwrap())
        .unwrap_err();
    assert_eq!(e.status, Status::SslError);
    assert!(e.message().contains("private key"), "{}", e.message());
    assert_eq!(t.set_cert_chain_pem(&pki.client_cert_pem, "garbage").unwrap_err().status, Status::SslError);
}
