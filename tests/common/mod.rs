//! Starts real `nats-server` processes for integration tests.
//!
//! The binary comes from `NATS_SERVER_BIN` or from `nats-server` on `PATH`. When neither is
//! found, starting a server panics with a clear message: the tests fail, they never pass
//! silently without a server. Servers only ever listen on 127.0.0.1, on a free port picked by
//! binding 127.0.0.1:0, and are killed when the handle is dropped.

#![allow(dead_code)]

pub mod evloop;
#[cfg(target_os = "linux")]
pub mod sched;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long to wait for a started server to accept TCP connections.
const START_WAIT: Duration = Duration::from_secs(5);
/// Ports tried before giving up (a free port can be taken by someone else before we bind it).
const START_ATTEMPTS: usize = 5;

/// Path of the nats-server binary, or a panic explaining how to provide one.
pub fn server_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("NATS_SERVER_BIN") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "NATS_SERVER_BIN is set to {} but that file does not exist",
            p.display()
        );
        return p;
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let cand = dir.join("nats-server");
            if is_executable(&cand) {
                return cand;
            }
        }
    }
    panic!(
        "nats-server not found: these integration tests need a real NATS server. \
         Install nats-server (v2.x) on PATH or set NATS_SERVER_BIN to its path."
    );
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A running nats-server, killed on drop.
pub struct NatsServer {
    bin: PathBuf,
    port: u16,
    name: String,
    extra: Vec<String>,
    child: Option<Child>,
    /// The client port speaks TLS before INFO (`tls { handshake_first: true }`).
    tls_first: bool,
}

static SERVER_SEQ: AtomicUsize = AtomicUsize::new(0);

impl NatsServer {
    /// Starts a server on a free loopback port.
    pub fn start() -> NatsServer {
        Self::start_with(&[])
    }

    /// Starts a server on a free loopback port with extra command line arguments.
    ///
    /// A port found free can be taken by another process (another test binary running in
    /// parallel) before our server binds it; the server then exits and the port answers with
    /// someone else's server. Each server therefore gets a unique name that is checked in its
    /// INFO, and the start is retried on another port when the server is not ours.
    pub fn start_with(extra: &[&str]) -> NatsServer {
        Self::start_inner(extra, false)
    }

    /// Like `start_with`, for a server configured with `tls { handshake_first: true }`: its
    /// INFO only comes after a TLS handshake, so readiness is checked through TLS.
    pub fn start_tls_first(extra: &[&str]) -> NatsServer {
        Self::start_inner(extra, true)
    }

    fn start_inner(extra: &[&str], tls_first: bool) -> NatsServer {
        let name = format!("rs-test-{}-{}", std::process::id(), SERVER_SEQ.fetch_add(1, Ordering::Relaxed));
        let mut s = NatsServer {
            bin: server_bin(),
            port: 0,
            name,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
            tls_first,
        };
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            s.port = free_port();
            match s.spawn() {
                Ok(()) => return s,
                Err(e) => last = e,
            }
        }
        panic!("could not start nats-server after {START_ATTEMPTS} attempts: {last}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (if running) and waits for the process to exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Freezes the server process (SIGSTOP): its sockets stay open but nothing is read or
    /// written, as with a server that hangs. Killing it (drop, `stop`) still works.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, sig: libc::c_int) {
        let c = self.child.as_ref().expect("server not running");
        // SAFETY: sends a signal to our own child process.
        let rc = unsafe { libc::kill(c.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", c.id());
    }

    /// Stops the server and starts it again on the same port with the same arguments.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn() {
            panic!("cannot restart nats-server on 127.0.0.1:{}: {e}", self.port);
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "server already running");
        let port = self.port.to_string();
        let mut child = Command::new(&self.bin)
            .args(["-a", "127.0.0.1", "-p", &port, "--server_name", &self.name])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        let deadline = Instant::now() + START_WAIT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "{} -a 127.0.0.1 -p {} {:?} exited before accepting connections: {status}",
                    self.bin.display(),
                    self.port,
                    self.extra
                ));
            }
            let seen = if self.tls_first { tls_info_server_name(self.port) } else { info_server_name(self.port) };
            match seen {
                Some(n) if n == self.name => break,
                Some(other) => {
                    // Someone else's server holds the port; ours cannot bind it.
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("port {} is served by another server ({other})", self.port));
                }
                None => {}
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "nats-server on 127.0.0.1:{} did not accept connections within {:?}",
                    self.port, START_WAIT
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.child = Some(child);
        Ok(())
    }
}

/// The `server_name` in the INFO line of whatever listens on 127.0.0.1:port, if anything.
fn info_server_name(port: u16) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(2).any(|w| w == b"\r\n") {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    let key = "\"server_name\":\"";
    let start = line.find(key)? + key.len();
    let end = line[start..].find('"')? + start;
    Some(line[start..end].to_string())
}

/// Like `info_server_name`, after a TLS handshake that trusts any certificate.
fn tls_info_server_name(port: u16) -> Option<String> {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};
    use std::sync::Arc;

    #[derive(Debug)]
    struct AnyCert(rustls::crypto::WebPkiSupportedAlgorithms);
    impl ServerCertVerifier for AnyCert {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(m, c, d, &self.0)
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(m, c, d, &self.0)
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.supported_schemes()
        }
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algs = provider.signature_verification_algorithms;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(algs)))
        .with_no_client_auth();
    let conn = rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").ok()?).ok()?;
    let tcp = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(2).any(|w| w == b"\r\n") {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    let key = "\"server_name\":\"";
    let start = line.find(key)? + key.len();
    let end = line[start..].find('"')? + start;
    Some(line[start..end].to_string())
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
