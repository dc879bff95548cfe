//! TLS on rustls (ring provider): the TLS settings of a connection's options (cnats keeps them
//! in an OpenSSL `SSL_CTX`), the client configuration built from them, and the stream a
//! connection reads and writes, plain TCP or TLS over TCP.
//!
//! Behaviour follows cnats 3.13 built with OpenSSL and its default
//! `NATS_BUILD_TLS_FORCE_HOST_VERIFY=ON`:
//! - the system's trusted roots are always trusted (`SSL_CTX_set_default_verify_paths`), plus
//!   the CA certificates loaded through the options;
//! - the server's host name is always verified, against the expected host name when one is set,
//!   otherwise against the host of the URL (an IP address is checked against the certificate's
//!   IP addresses). An expected host name of "" verifies the chain but no name, as OpenSSL's
//!   `SSL_set1_host(ssl, "")` does;
//! - TLS 1.2 is the minimum version; `SetCiphers` (OpenSSL cipher list) restricts the TLS 1.2
//!   suites and `SetCipherSuites` the TLS 1.3 ones (an empty list disables TLS 1.3).

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use crate::core::lock::Mutex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, CipherSuite, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::status::{Error, Result, Status};

// ----- options -----

/// The client certificate presented when the server asks for one.
#[derive(Clone)]
enum ClientCert {
    /// Loaded once (natsOptions_LoadCertificatesChain / natsOptions_SetCertificatesChain).
    Loaded(Arc<CertifiedKey>),
    /// Read from the files at every handshake (natsOptions_LoadCertificatesChainDynamic).
    Dynamic { cert: PathBuf, key: PathBuf },
}

/// TLS settings of a connection's options. Everything is validated when set; the rustls
/// client configuration is built on first use and shared by the connections made with them.
#[derive(Default)]
pub struct TlsOptions {
    ca_certs: Vec<CertificateDer<'static>>,
    crls: Vec<CertificateRevocationListDer<'static>>,
    client_cert: Option<ClientCert>,
    expected_hostname: Option<String>,
    skip_verify: bool,
    /// TLS 1.2 suites chosen with an OpenSSL cipher list; `None`: all that rustls supports.
    tls12_suites: Option<Vec<CipherSuite>>,
    /// TLS 1.3 suites; `None`: all that rustls supports; empty: TLS 1.3 disabled.
    tls13_suites: Option<Vec<CipherSuite>>,
    config: OnceLock<std::result::Result<Built, Error>>,
}

/// The client configuration, with the dynamic certificate resolver it uses (if any) so that
/// its read errors can be reported.
#[derive(Clone)]
struct Built {
    config: Arc<ClientConfig>,
    dynamic: Option<Arc<FileCert>>,
}

impl Clone for TlsOptions {
    fn clone(&self) -> Self {
        TlsOptions {
            ca_certs: self.ca_certs.clone(),
            crls: self.crls.clone(),
            client_cert: self.client_cert.clone(),
            expected_hostname: self.expected_hostname.clone(),
            skip_verify: self.skip_verify,
            tls12_suites: self.tls12_suites.clone(),
            tls13_suites: self.tls13_suites.clone(),
            config: OnceLock::new(),
        }
    }
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("ca_certs", &self.ca_certs.len())
            .field("crls", &self.crls.len())
            .field("client_cert", &self.client_cert.as_ref().map(|c| matches!(c, ClientCert::Dynamic { .. })))
            .field("expected_hostname", &self.expected_hostname)
            .field("skip_verify", &self.skip_verify)
            .finish()
    }
}

fn ssl_err(text: impl Into<String>) -> Error {
    Error::with_text(Status::SslError, text)
}

fn provider() -> &'static Arc<CryptoProvider> {
    static P: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// The system's trusted roots, loaded once (OpenSSL's default verify paths).
fn native_roots() -> &'static [CertificateDer<'static>] {
    static R: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    R.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// Checks that each certificate is one a trust store accepts.
fn check_ca_certs(certs: &[CertificateDer<'static>]) -> std::result::Result<(), String> {
    let mut store = RootCertStore::empty();
    for c in certs {
        store.add(c.clone()).map_err(|e| format!("invalid CA certificate: {e}"))?;
    }
    Ok(())
}

fn read_file(path: &Path) -> std::result::Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| e.to_string())
}

fn certs_from_pem(pem: &[u8]) -> std::result::Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem).collect::<std::result::Result<Vec<_>, _>>().map_err(|e| e.to_string())
}

/// Parses a certificate chain and its private key (PKCS#8, PKCS#1 or SEC1), checking that
/// they match. The error says which of the two is wrong.
fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> std::result::Result<Arc<CertifiedKey>, (bool, String)> {
    let chain = certs_from_pem(cert_pem).map_err(|e| (true, e))?;
    if chain.is_empty() {
        return Err((true, "no certificate found".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => (false, "no private key found".to_string()),
        e => (false, e.to_string()),
    })?;
    CertifiedKey::from_der(chain, key, provider()).map(Arc::new).map_err(|e| (false, e.to_string()))
}

fn load_cert_files(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>> {
    let chain_err = |e: String| ssl_err(format!("Error loading certificate chain '{}': {e}", cert.display()));
    let key_err = |e: String| ssl_err(format!("Error loading private key '{}': {e}", key.display()));
    let c = read_file(cert).map_err(chain_err)?;
    let k = read_file(key).map_err(key_err)?;
    certified_key(&c, &k).map_err(|(is_cert, e)| if is_cert { chain_err(e) } else { key_err(e) })
}

impl TlsOptions {
    pub fn new() -> TlsOptions {
        TlsOptions::default()
    }

    /// The settings of a connection that asks for TLS without configuring any: the system's
    /// trusted roots. Shared, so that its configuration is built once.
    pub fn defaults() -> &'static TlsOptions {
        static D: OnceLock<TlsOptions> = OnceLock::new();
        D.get_or_init(TlsOptions::new)
    }

    fn changed(&mut self) {
        self.config = OnceLock::new();
    }

    /// Trusts the CA certificates of a PEM file (natsOptions_LoadCATrustedCertificates).
    pub fn load_ca_file(&mut self, path: &str) -> Result<()> {
        let fail = |e: String| ssl_err(format!("Error loading trusted certificates '{path}': {e}"));
        let pem = read_file(Path::new(path)).map_err(fail)?;
        let certs = certs_from_pem(&pem).map_err(fail)?;
        if certs.is_empty() {
            return Err(fail("no certificate found".into()));
        }
        check_ca_certs(&certs).map_err(fail)?;
        self.ca_certs.extend(certs);
        self.changed();
        Ok(())
    }

    /// Trusts the CA certificates of the PEM files of a directory
    /// (natsOptions_LoadCATrustedCertificatesPath). Files that hold no certificate are skipped.
    pub fn load_ca_dir(&mut self, path: &str) -> Result<()> {
        let fail = |e: String| ssl_err(format!("Error loading trusted certificates in path '{path}': {e}"));
        let mut names: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| fail(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        names.sort();
        let mut all = Vec::new();
        for p in names {
            let Ok(pem) = std::fs::read(&p) else { continue };
            let Ok(certs) = certs_from_pem(&pem) else { continue };
            if check_ca_certs(&certs).is_ok() {
                all.extend(certs);
            }
        }
        self.ca_certs.extend(all);
        self.changed();
        Ok(())
    }

    /// Trusts the CA certificates (and revocation lists) of a PEM text
    /// (natsOptions_SetCATrustedCertificates). A revocation list enables revocation checks
    /// of the server's certificate.
    pub fn add_ca_pem(&mut self, pem: &str) -> Result<()> {
        let certs = certs_from_pem(pem.as_bytes()).map_err(|e| ssl_err(format!("unable to get CA certificates: {e}")))?;
        let crls = CertificateRevocationListDer::pem_slice_iter(pem.as_bytes())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| ssl_err(format!("unable to get CA certificates: {e}")))?;
        if certs.is_empty() && crls.is_empty() {
            return Err(ssl_err("unable to get CA certificates: no certificate found"));
        }
        check_ca_certs(&certs).map_err(|e| ssl_err(format!("error adding CA certificates: {e}")))?;
        self.ca_certs.extend(certs);
        self.crls.extend(crls);
        self.changed();
        Ok(())
    }

    /// Presents the certificate chain and key of these PEM files (natsOptions_LoadCertificatesChain).
    pub fn load_cert_chain_files(&mut self, cert: &str, key: &str) -> Result<()> {
        let ck = load_cert_files(Path::new(cert), Path::new(key))?;
        self.client_cert = Some(ClientCert::Loaded(ck));
        self.changed();
        Ok(())
    }

    /// Presents the certificate chain and key read from these PEM files at every handshake
    /// (natsOptions_LoadCertificatesChainDynamic), so that renewed files are picked up on
    /// reconnect. The files are not read now.
    pub fn load_cert_chain_dynamic(&mut self, cert: &str, key: &str) {
        self.client_cert = Some(ClientCert::Dynamic { cert: cert.into(), key: key.into() });
        self.changed();
    }

    /// Presents this PEM certificate chain and key (natsOptions_SetCertificatesChain).
    pub fn set_cert_chain_pem(&mut self, cert: &str, key: &str) -> Result<()> {
        let ck = certified_key(cert.as_bytes(), key.as_bytes()).map_err(|(is_cert, e)| {
            if is_cert {
                ssl_err(format!("Error creating certificate: {e}"))
            } else {
                ssl_err(format!("Error creating key: {e}"))
            }
        })?;
        self.client_cert = Some(ClientCert::Loaded(ck));
        self.changed();
        Ok(())
    }

    /// The name the server's certificate must carry (`None`: the host of the URL).
    pub fn set_expected_hostname(&mut self, name: Option<&str>) {
        self.expected_hostname = name.map(str::to_string);
        self.changed();
    }

    pub fn expected_hostname(&self) -> Option<&str> {
        self.expected_hostname.as_deref()
    }

    /// Accepts any server certificate (natsOptions_SkipServerVerification).
    pub fn set_skip_verify(&mut self, skip: bool) {
        self.skip_verify = skip;
        self.changed();
    }

    pub fn skip_verify(&self) -> bool {
        self.skip_verify
    }

    /// Restricts the TLS 1.2 suites with an OpenSSL cipher list (natsOptions_SetCiphers).
    /// As with OpenSSL, names and keywords that match nothing are ignored, and the list is
    /// refused only when it selects no cipher at all. Ciphers that OpenSSL knows but rustls
    /// does not implement (CBC, RSA or DHE key exchange...) are selected but never offered.
    pub fn set_ciphers(&mut self, list: &str) -> Result<()> {
        let suites = parse_cipher_list(list)?;
        self.tls12_suites = Some(suites);
        self.changed();
        Ok(())
    }

    /// Sets the TLS 1.3 suites, colon separated (natsOptions_SetCipherSuites). An empty list
    /// disables TLS 1.3; unknown names are ignored, but a list where none is known is refused.
    pub fn set_cipher_suites(&mut self, list: &str) -> Result<()> {
        let suites = parse_tls13_suites(list)?;
        self.tls13_suites = Some(suites);
        self.changed();
        Ok(())
    }

    /// The rustls client configuration for these settings, built once.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>> {
        self.built().map(|b| b.config)
    }

    fn built(&self) -> Result<Built> {
        self.config.get_or_init(|| self.build_config()).clone()
    }

    fn build_config(&self) -> std::result::Result<Built, Error> {
        let base = provider();
        let pick = |want: &Option<Vec<CipherSuite>>, tls13: bool| -> Vec<rustls::SupportedCipherSuite> {
            let of_version = base.cipher_suites.iter().filter(|s| matches!(s, rustls::SupportedCipherSuite::Tls13(_)) == tls13);
            match want {
                None => of_version.copied().collect(),
                Some(names) => names.iter().filter_map(|n| of_version.clone().find(|s| s.suite() == *n).copied()).collect(),
            }
        };
        let tls13 = pick(&self.tls13_suites, true);
        let tls12 = pick(&self.tls12_suites, false);
        let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
        if !tls13.is_empty() {
            versions.push(&rustls::version::TLS13);
        }
        if !tls12.is_empty() {
            versions.push(&rustls::version::TLS12);
        }
        if versions.is_empty() {
            return Err(ssl_err("SSL handshake error: no cipher suite left to offer (check SetCiphers/SetCipherSuites)"));
        }
        let mut p = CryptoProvider::clone(base);
        p.cipher_suites = tls13.into_iter().chain(tls12).collect();
        let p = Arc::new(p);

        let verifier: Arc<dyn ServerCertVerifier> = if self.skip_verify {
            Arc::new(NatsVerifier { inner: None, name: None, algs: p.signature_verification_algorithms })
        } else {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(native_roots().iter().cloned());
            for c in &self.ca_certs {
                let _ = roots.add(c.clone());
            }
            if roots.is_empty() {
                return Err(ssl_err("SSL handshake error: no trusted CA certificates (none in the system store, none loaded)"));
            }
            let mut b = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), p.clone());
            if !self.crls.is_empty() {
                b = b.with_crls(self.crls.iter().cloned()).only_check_end_entity_revocation();
            }
            let inner = b.build().map_err(|e| ssl_err(format!("SSL handshake error: cannot set up verification: {e}")))?;
            let name = match self.expected_hostname.as_deref() {
                None => None,
                Some("") => Some(NameCheck::None),
                Some(h) => Some(NameCheck::Name(
                    ServerName::try_from(h.to_string())
                        .map_err(|_| ssl_err(format!("unable to set expected hostname '{h}'")))?,
                )),
            };
            Arc::new(NatsVerifier { inner: Some(inner), name, algs: p.signature_verification_algorithms })
        };
        let builder = ClientConfig::builder_with_provider(p.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| ssl_err(format!("SSL handshake error: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut dynamic = None;
        let mut config = match &self.client_cert {
            None => builder.with_no_client_auth(),
            Some(ClientCert::Loaded(ck)) => builder.with_client_cert_resolver(Arc::new(FixedCert(ck.clone()))),
            Some(ClientCert::Dynamic { cert, key }) => {
                let r = Arc::new(FileCert { cert: cert.clone(), key: key.clone(), last_err: Mutex::new(None) });
                dynamic = Some(r.clone());
                builder.with_client_cert_resolver(r)
            }
        };
        // cnats never resumes TLS sessions: every (re)connect is a full handshake, which is also
        // what makes renewed dynamic certificates (and CA changes) take effect on reconnect.
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Built { config: Arc::new(config), dynamic })
    }

    /// TLS handshake over `tcp`. `host` is the URL's host: sent as SNI (when it is a name)
    /// and verified unless an expected host name is set.
    pub(crate) async fn connect(&self, tcp: TcpStream, host: &str) -> Result<NatsStream> {
        let built = self.built()?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| ssl_err(format!("unable to set SNI extension for hostname '{host}'")))?;
        if let Some(d) = &built.dynamic {
            *d.last_err.lock() = None;
        }
        let connector = tokio_rustls::TlsConnector::from(built.config.clone());
        match connector.connect(name, tcp).await {
            Ok(s) => Ok(NatsStream::Tls(Box::new(s))),
            Err(e) => match built.dynamic.as_ref().and_then(|d| d.last_err.lock().take()) {
                Some(t) => Err(ssl_err(t)),
                None => Err(handshake_error(e)),
            },
        }
    }

    /// The error met reading the dynamic certificate files in the last handshake, if any: with
    /// TLS 1.3 the server rejects a missing certificate after the client's handshake is done.
    pub(crate) fn take_dynamic_cert_error(&self) -> Option<String> {
        let b = self.config.get()?.as_ref().ok()?;
        b.dynamic.as_ref().and_then(|d| d.last_err.lock().take())
    }
}

// ----- certificate verification and client certificates -----

#[derive(Debug)]
enum NameCheck {
    /// Verify the chain only ("" as expected host name).
    None,
    Name(ServerName<'static>),
}

/// Verifies the server's certificate chain with webpki, against the expected host name when
/// one is set (the SNI name otherwise), or accepts anything when verification is skipped.
/// Handshake signatures are always checked.
#[derive(Debug)]
struct NatsVerifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    name: Option<NameCheck>,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for NatsVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            return Ok(ServerCertVerified::assertion());
        };
        match &self.name {
            None => inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now),
            Some(NameCheck::Name(n)) => inner.verify_server_cert(end_entity, intermediates, n, ocsp_response, now),
            Some(NameCheck::None) => {
                // webpki checks the chain before the name: a name mismatch means the chain is good.
                match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
                    Err(rustls::Error::InvalidCertificate(
                        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
                    )) => Ok(ServerCertVerified::assertion()),
                    r => r,
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[derive(Debug)]
struct FixedCert(Arc<CertifiedKey>);

impl ResolvesClientCert for FixedCert {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
    fn has_certs(&self) -> bool {
        true
    }
}

/// Reads the certificate files each time the server asks for a certificate (OpenSSL's
/// certificate callback in cnats). A read failure sends no certificate and is reported.
#[derive(Debug)]
struct FileCert {
    cert: PathBuf,
    key: PathBuf,
    last_err: Mutex<Option<String>>,
}

impl ResolvesClientCert for FileCert {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        match load_cert_files(&self.cert, &self.key) {
            Ok(ck) => Some(ck),
            Err(e) => {
                *self.last_err.lock() = Some(e.message().to_string());
                None
            }
        }
    }
    fn has_certs(&self) -> bool {
        true
    }
}

// ----- errors -----

/// The rustls error inside an I/O error, if there is one.
pub(crate) fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
}

/// Describes a TLS failure the way a user can act on it.
pub(crate) fn describe(e: &rustls::Error) -> String {
    use rustls::AlertDescription as A;
    match e {
        rustls::Error::InvalidCertificate(c) => {
            let what = match c {
                CertificateError::UnknownIssuer => {
                    "unable to get local issuer certificate: the server's certificate is not signed by a trusted CA (unknown CA)".to_string()
                }
                CertificateError::NotValidForName => "hostname mismatch: the server's certificate is not valid for the expected name".to_string(),
                CertificateError::NotValidForNameContext { expected, presented } => format!(
                    "hostname mismatch: expected={}, certificate is valid for [{}]",
                    expected.to_str(),
                    presented.join(", ")
                ),
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => "certificate has expired".to_string(),
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => "certificate is not yet valid".to_string(),
                CertificateError::Revoked => "certificate revoked".to_string(),
                CertificateError::BadSignature => "certificate signature failure".to_string(),
                CertificateError::BadEncoding => "bad certificate: cannot decode the server's certificate".to_string(),
                other => format!("bad certificate: {other:?}"),
            };
            format!("certificate verify failed: {what}")
        }
        rustls::Error::AlertReceived(a) => {
            let hint = match a {
                A::CertificateRequired | A::HandshakeFailure | A::BadCertificate | A::UnknownCA | A::AccessDenied => {
                    " (the server rejected the client certificate, or needs one)"
                }
                A::ProtocolVersion | A::InsufficientSecurity => " (no protocol version or cipher in common)",
                _ => "",
            };
            format!("the server sent TLS alert {a:?}{hint}")
        }
        rustls::Error::PeerIncompatible(p) => format!("no protocol version or cipher in common with the server: {p:?}"),
        other => other.to_string(),
    }
}

/// Maps an error of the TLS handshake to NATS_SSL_ERROR with a description.
pub(crate) fn handshake_error(e: io::Error) -> Error {
    match rustls_error(&e) {
        Some(r) => ssl_err(format!("SSL handshake error: {}", describe(r))),
        None => ssl_err(format!("SSL handshake error: {e}")),
    }
}

// ----- cipher lists -----

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kx {
    Ecdhe,
    Dhe,
    Rsa,
}
#[derive(Clone, Copy, PartialEq, Eq)]
enum Au {
    Rsa,
    Ecdsa,
}
#[derive(Clone, Copy, PartialEq, Eq)]
enum Enc {
    AesGcm,
    Chacha,
    AesCbc,
    TripleDes,
}
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mac {
    Aead,
    Sha1,
    Sha256,
    Sha384,
}

/// A TLS 1.2 (or older) cipher as OpenSSL names it, with the attributes its cipher-list
/// keywords select on. `suite` is set for those rustls implements.
struct OsslCipher {
    name: &'static str,
    iana: &'static str,
    kx: Kx,
    au: Au,
    enc: Enc,
    mac: Mac,
    bits: u16,
    suite: Option<CipherSuite>,
}

#[allow(clippy::too_many_arguments)]
const fn c(
    name: &'static str,
    iana: &'static str,
    kx: Kx,
    au: Au,
    enc: Enc,
    mac: Mac,
    bits: u16,
    suite: Option<CipherSuite>,
) -> OsslCipher {
    OsslCipher { name, iana, kx, au, enc, mac, bits, suite }
}

/// In OpenSSL's default preference order.
static CIPHERS: &[OsslCipher] = &[
    c("ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", Kx::Ecdhe, Au::Ecdsa, Enc::AesGcm, Mac::Aead, 256, Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384)),
    c("ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", Kx::Ecdhe, Au::Rsa, Enc::AesGcm, Mac::Aead, 256, Some(CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384)),
    c("DHE-RSA-AES256-GCM-SHA384", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", Kx::Dhe, Au::Rsa, Enc::AesGcm, Mac::Aead, 256, None),
    c("ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", Kx::Ecdhe, Au::Ecdsa, Enc::Chacha, Mac::Aead, 256, Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)),
    c("ECDHE-RSA-CHACHA20-POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", Kx::Ecdhe, Au::Rsa, Enc::Chacha, Mac::Aead, 256, Some(CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256)),
    c("DHE-RSA-CHACHA20-POLY1305", "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", Kx::Dhe, Au::Rsa, Enc::Chacha, Mac::Aead, 256, None),
    c("ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", Kx::Ecdhe, Au::Ecdsa, Enc::AesGcm, Mac::Aead, 128, Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)),
    c("ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", Kx::Ecdhe, Au::Rsa, Enc::AesGcm, Mac::Aead, 128, Some(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)),
    c("DHE-RSA-AES128-GCM-SHA256", "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", Kx::Dhe, Au::Rsa, Enc::AesGcm, Mac::Aead, 128, None),
    c("ECDHE-ECDSA-AES256-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", Kx::Ecdhe, Au::Ecdsa, Enc::AesCbc, Mac::Sha384, 256, None),
    c("ECDHE-RSA-AES256-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", Kx::Ecdhe, Au::Rsa, Enc::AesCbc, Mac::Sha384, 256, None),
    c("DHE-RSA-AES256-SHA256", "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", Kx::Dhe, Au::Rsa, Enc::AesCbc, Mac::Sha256, 256, None),
    c("ECDHE-ECDSA-AES128-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", Kx::Ecdhe, Au::Ecdsa, Enc::AesCbc, Mac::Sha256, 128, None),
    c("ECDHE-RSA-AES128-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", Kx::Ecdhe, Au::Rsa, Enc::AesCbc, Mac::Sha256, 128, None),
    c("DHE-RSA-AES128-SHA256", "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", Kx::Dhe, Au::Rsa, Enc::AesCbc, Mac::Sha256, 128, None),
    c("ECDHE-ECDSA-AES256-SHA", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", Kx::Ecdhe, Au::Ecdsa, Enc::AesCbc, Mac::Sha1, 256, None),
    c("ECDHE-RSA-AES256-SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", Kx::Ecdhe, Au::Rsa, Enc::AesCbc, Mac::Sha1, 256, None),
    c("DHE-RSA-AES256-SHA", "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", Kx::Dhe, Au::Rsa, Enc::AesCbc, Mac::Sha1, 256, None),
    c("ECDHE-ECDSA-AES128-SHA", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", Kx::Ecdhe, Au::Ecdsa, Enc::AesCbc, Mac::Sha1, 128, None),
    c("ECDHE-RSA-AES128-SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", Kx::Ecdhe, Au::Rsa, Enc::AesCbc, Mac::Sha1, 128, None),
    c("DHE-RSA-AES128-SHA", "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", Kx::Dhe, Au::Rsa, Enc::AesCbc, Mac::Sha1, 128, None),
    c("AES256-GCM-SHA384", "TLS_RSA_WITH_AES_256_GCM_SHA384", Kx::Rsa, Au::Rsa, Enc::AesGcm, Mac::Aead, 256, None),
    c("AES128-GCM-SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256", Kx::Rsa, Au::Rsa, Enc::AesGcm, Mac::Aead, 128, None),
    c("AES256-SHA256", "TLS_RSA_WITH_AES_256_CBC_SHA256", Kx::Rsa, Au::Rsa, Enc::AesCbc, Mac::Sha256, 256, None),
    c("AES128-SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA256", Kx::Rsa, Au::Rsa, Enc::AesCbc, Mac::Sha256, 128, None),
    c("AES256-SHA", "TLS_RSA_WITH_AES_256_CBC_SHA", Kx::Rsa, Au::Rsa, Enc::AesCbc, Mac::Sha1, 256, None),
    c("AES128-SHA", "TLS_RSA_WITH_AES_128_CBC_SHA", Kx::Rsa, Au::Rsa, Enc::AesCbc, Mac::Sha1, 128, None),
    c("DES-CBC3-SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA", Kx::Rsa, Au::Rsa, Enc::TripleDes, Mac::Sha1, 112, None),
];

/// Whether an OpenSSL cipher-list keyword selects `c`; `None` for a word OpenSSL would not
/// know (such a rule is ignored, as OpenSSL does).
fn keyword_matches(word: &str, c: &OsslCipher) -> Option<bool> {
    if CIPHERS.iter().any(|k| word == k.name || word == k.iana) {
        return Some(word == c.name || word == c.iana);
    }
    let aes = matches!(c.enc, Enc::AesGcm | Enc::AesCbc);
    Some(match word {
        "ALL" | "DEFAULT" => true,
        "COMPLEMENTOFALL" | "COMPLEMENTOFDEFAULT" => false,
        "HIGH" => c.enc != Enc::TripleDes,
        "MEDIUM" => c.enc == Enc::TripleDes,
        "kRSA" | "RSA" => c.kx == Kx::Rsa,
        "aRSA" => c.au == Au::Rsa,
        "kECDHE" | "kEECDH" | "ECDHE" | "EECDH" | "ECDH" | "kECDH" => c.kx == Kx::Ecdhe,
        "kDHE" | "kEDH" | "DHE" | "EDH" | "DH" | "kDH" => c.kx == Kx::Dhe,
        "aECDSA" | "ECDSA" => c.au == Au::Ecdsa,
        "AESGCM" => c.enc == Enc::AesGcm,
        "AES" => aes,
        "AES128" => aes && c.bits == 128,
        "AES256" => aes && c.bits == 256,
        "CHACHA20" => c.enc == Enc::Chacha,
        "3DES" => c.enc == Enc::TripleDes,
        "AEAD" => c.mac == Mac::Aead,
        "SHA1" | "SHA" => c.mac == Mac::Sha1,
        "SHA256" => c.mac == Mac::Sha256,
        "SHA384" => c.mac == Mac::Sha384,
        "TLSv1.2" => matches!(c.mac, Mac::Aead | Mac::Sha256 | Mac::Sha384),
        "TLSv1" | "TLSv1.0" | "SSLv3" => c.mac == Mac::Sha1,
        "LOW" | "EXP" | "EXPORT" | "eNULL" | "NULL" | "aNULL" | "ADH" | "AECDH" | "RC4" | "MD5" | "DES" | "PSK"
        | "kPSK" | "aPSK" | "ECDHEPSK" | "DHEPSK" | "RSAPSK" | "SRP" | "kSRP" | "aSRP" | "DSS" | "aDSS" | "CAMELLIA"
        | "CAMELLIA128" | "CAMELLIA256" | "ARIA" | "ARIA128" | "ARIA256" | "SEED" | "IDEA" | "RC2" | "CCM" | "CCM8"
        | "AESCCM" | "AESCCM8" | "GOST94" | "GOST89MAC" | "kGOST" | "aGOST" | "aGOST01" | "SUITEB128"
        | "SUITEB128ONLY" | "SUITEB192" => false,
        _ => return None,
    })
}

/// Evaluates an OpenSSL cipher list over the known ciphers and returns the rustls suites it
/// selects, in order. Refused (NATS_SSL_ERROR, as cnats) only when it selects no cipher.
pub(crate) fn parse_cipher_list(list: &str) -> Result<Vec<CipherSuite>> {
    let mut active: Vec<usize> = Vec::new();
    let mut killed: HashSet<usize> = HashSet::new();
    for rule in list.split([':', ' ', ';', ',']).map(str::trim).filter(|r| !r.is_empty()) {
        if rule.starts_with('@') {
            if rule == "@STRENGTH" {
                active.sort_by_key(|&i| std::cmp::Reverse(CIPHERS[i].bits));
            }
            continue;
        }
        let (op, body) = match rule.as_bytes()[0] {
            b'!' | b'-' | b'+' => (rule.as_bytes()[0], &rule[1..]),
            _ => (0u8, rule),
        };
        let mut selected = Vec::new();
        let mut known = true;
        for (i, c) in CIPHERS.iter().enumerate() {
            let mut all = true;
            for part in body.split('+') {
                match keyword_matches(part, c) {
                    Some(m) => all &= m,
                    None => {
                        known = false;
                        break;
                    }
                }
            }
            if !known {
                break;
            }
            if all {
                selected.push(i);
            }
        }
        if !known {
            continue;
        }
        match op {
            b'!' => {
                active.retain(|i| !selected.contains(i));
                killed.extend(selected);
            }
            b'-' => active.retain(|i| !selected.contains(i)),
            b'+' => {
                let moved: Vec<usize> = active.iter().copied().filter(|i| selected.contains(i)).collect();
                active.retain(|i| !selected.contains(i));
                active.extend(moved);
            }
            _ => {
                for i in selected {
                    if !killed.contains(&i) && !active.contains(&i) {
                        active.push(i);
                    }
                }
            }
        }
    }
    if active.is_empty() {
        return Err(ssl_err(format!("Error setting ciphers '{list}': no cipher match")));
    }
    Ok(active.into_iter().filter_map(|i| CIPHERS[i].suite).collect())
}

/// TLS 1.3 suite names (OpenSSL's, which are the IANA ones) and what rustls implements.
static TLS13_SUITES: &[(&str, Option<CipherSuite>)] = &[
    ("TLS_AES_256_GCM_SHA384", Some(CipherSuite::TLS13_AES_256_GCM_SHA384)),
    ("TLS_CHACHA20_POLY1305_SHA256", Some(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)),
    ("TLS_AES_128_GCM_SHA256", Some(CipherSuite::TLS13_AES_128_GCM_SHA256)),
    ("TLS_AES_128_CCM_SHA256", None),
    ("TLS_AES_128_CCM_8_SHA256", None),
];

/// Parses a colon-separated TLS 1.3 suite list. Empty: no TLS 1.3 suite.
pub(crate) fn parse_tls13_suites(list: &str) -> Result<Vec<CipherSuite>> {
    let mut out = Vec::new();
    let mut any = false;
    let mut seen_entry = false;
    for name in list.split(':').map(str::trim).filter(|n| !n.is_empty()) {
        seen_entry = true;
        let name = name.replacen("TLS13_", "TLS_", 1);
        if let Some((_, s)) = TLS13_SUITES.iter().find(|(n, _)| *n == name) {
            any = true;
            if let Some(s) = s {
                if !out.contains(s) {
                    out.push(*s);
                }
            }
        }
    }
    if seen_entry && !any {
        return Err(ssl_err(format!("Error setting ciphers '{list}': no cipher match")));
    }
    Ok(out)
}

// ----- the connection's stream -----

/// A connection's socket: plain TCP, or TLS over TCP.
pub(crate) enum NatsStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// The read half of a [`NatsStream`]. A plain socket is read through the connection's
/// shared reader (conn.rs), a TLS stream by the session's task.
pub(crate) enum StreamReader {
    Plain(Arc<PlainSocket>),
    Tls(tokio::io::ReadHalf<TlsStream<TcpStream>>),
}

/// The write half of a [`NatsStream`]. A plain socket is shared: threads that are about to
/// block on a reply write to it directly when the writer task is idle.
pub(crate) enum StreamWriter {
    Plain(Arc<PlainSocket>),
    Tls(tokio::io::WriteHalf<TlsStream<TcpStream>>),
}

/// A plain TCP session's socket, non-blocking, written and read with plain system calls so
/// that any thread may use it, not only the runtime's.
///
/// The runtime watches it for writability only. Input is watched through a private epoll
/// set that the runtime watches: a thread that reads the socket itself while it waits for
/// an answer takes the socket out of that set ([`PlainSocket::watch_input`]), so data it
/// consumes wakes no one else, and puts it back when done (which signals at once if data
/// is left).
pub(crate) struct PlainSocket {
    // Field order is drop order: both registrations go before the socket closes.
    out_ready: AsyncFd<Fd>,
    in_set: AsyncFd<OwnedFd>,
    sock: std::net::TcpStream,
}

/// A descriptor owned elsewhere (by [`PlainSocket::sock`]).
struct Fd(RawFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

const INPUT_EVENTS: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32;

impl PlainSocket {
    /// Takes the socket over from the runtime's TCP stream. Must run on the runtime.
    pub(crate) fn new(s: TcpStream) -> io::Result<PlainSocket> {
        let sock = s.into_std()?;
        sock.set_nonblocking(true)?;
        let fd = sock.as_raw_fd();
        // SAFETY: epoll_create1 takes no pointers; the descriptor is owned from here on.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if ep < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `ep` was just created and is owned by nothing else.
        let ep = unsafe { OwnedFd::from_raw_fd(ep) };
        let mut ev = libc::epoll_event { events: INPUT_EVENTS, u64: 0 };
        // SAFETY: both descriptors are open; `ev` is a live local.
        if unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` belongs to `sock`, which is dropped after this registration (field
        // order) and is never replaced.
        let out_ready = unsafe { AsyncFd::register_with_interest(Fd(fd), Interest::WRITABLE) }.map_err(|e| e.into_parts().1)?;
        // SAFETY: the registration owns `ep`.
        let in_set = unsafe { AsyncFd::register_with_interest(ep, Interest::READABLE) }.map_err(|e| e.into_parts().1)?;
        Ok(PlainSocket { out_ready, in_set, sock })
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// One non-blocking send.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: sends from a live slice on our open socket.
        let n = unsafe {
            libc::send(self.fd(), buf.as_ptr() as *const libc::c_void, buf.len(), libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT)
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// One non-blocking gathering send of `parts`, in order.
    pub(crate) fn try_write_vectored(&self, parts: &[io::IoSlice<'_>]) -> io::Result<usize> {
        // SAFETY: an all-zero msghdr is valid (no name, no control data).
        let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
        // IoSlice is ABI-compatible with iovec on Unix.
        m.msg_iov = parts.as_ptr() as *mut libc::iovec;
        m.msg_iovlen = parts.len() as _;
        // SAFETY: sends from live slices on our open socket.
        let n = unsafe { libc::sendmsg(self.fd(), &m, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Waits up to `ms` for the socket to take more output (or fail); false on timeout.
    pub(crate) fn wait_writable(&self, ms: i32) -> bool {
        let mut p = libc::pollfd { fd: self.fd(), events: libc::POLLOUT, revents: 0 };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, ms) > 0 }
    }

    /// One non-blocking receive into the buffer's spare capacity (0: end of stream).
    pub(crate) fn try_read(&self, buf: &mut bytes::BytesMut) -> io::Result<usize> {
        let spare = buf.spare_capacity_mut();
        // SAFETY: receives at most `spare.len()` bytes into the spare capacity.
        let n = unsafe { libc::recv(self.fd(), spare.as_mut_ptr() as *mut libc::c_void, spare.len(), libc::MSG_DONTWAIT) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel initialized `n` bytes of the spare capacity.
        unsafe { buf.set_len(buf.len() + n as usize) };
        Ok(n as usize)
    }

    async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.try_write(buf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let mut g = self.out_ready.writable().await?;
                    // Wait for the next writability change unless the socket has room now.
                    match self.try_write(buf) {
                        Ok(n) => buf = &buf[n..],
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => g.clear_ready(),
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Waits until the socket may have input (or was put back in the input set with input
    /// waiting). Spurious returns happen; reads find out.
    pub(crate) async fn input_ready(&self) -> io::Result<()> {
        let mut g = self.in_set.readable().await?;
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 4];
        // SAFETY: a zero-timeout wait on our own epoll set into a local array; it only
        // empties the set's ready list so that the next input signals again.
        unsafe { libc::epoll_wait(self.in_set.get_ref().as_raw_fd(), evs.as_mut_ptr(), 4, 0) };
        g.clear_ready();
        Ok(())
    }

    /// Puts the socket in or takes it out of the watched input set.
    pub(crate) fn watch_input(&self, on: bool) {
        let mut ev = libc::epoll_event { events: if on { INPUT_EVENTS } else { 0 }, u64: 0 };
        // SAFETY: both descriptors are open while `self` lives; `ev` is a live local.
        unsafe { libc::epoll_ctl(self.in_set.get_ref().as_raw_fd(), libc::EPOLL_CTL_MOD, self.fd(), &mut ev) };
    }

    /// Ends the write side (FIN).
    pub(crate) fn shutdown_write(&self) {
        let _ = self.sock.shutdown(std::net::Shutdown::Write);
    }
}

impl StreamWriter {
    /// The shared plain socket, for direct writes (none for TLS).
    pub(crate) fn direct(&self) -> Option<Arc<PlainSocket>> {
        match self {
            StreamWriter::Plain(w) => Some(w.clone()),
            StreamWriter::Tls(_) => None,
        }
    }

    pub(crate) async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            StreamWriter::Plain(w) => w.write_all(buf).await,
            StreamWriter::Tls(w) => tokio::io::AsyncWriteExt::write_all(w, buf).await,
        }
    }

    /// Ends the write side (FIN / TLS close_notify).
    pub(crate) async fn shutdown(self) -> io::Result<()> {
        match self {
            StreamWriter::Plain(w) => {
                w.shutdown_write();
                Ok(())
            }
            StreamWriter::Tls(mut w) => tokio::io::AsyncWriteExt::shutdown(&mut w).await,
        }
    }
}

impl NatsStream {
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            NatsStream::Plain(s) => s.local_addr(),
            NatsStream::Tls(s) => s.get_ref().0.local_addr(),
        }
    }

    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, NatsStream::Tls(_))
    }

    /// Splits into halves that the reader and writer tasks own. Must run on the runtime.
    pub(crate) fn into_split(self) -> io::Result<(StreamReader, StreamWriter)> {
        Ok(match self {
            NatsStream::Plain(s) => {
                let p = Arc::new(PlainSocket::new(s)?);
                (StreamReader::Plain(p.clone()), StreamWriter::Plain(p))
            }
            NatsStream::Tls(s) => {
                let (r, w) = tokio::io::split(*s);
                (StreamReader::Tls(r), StreamWriter::Tls(w))
            }
        })
    }

    /// The plain socket, for a TLS upgrade. `None` when already TLS.
    pub(crate) fn into_tcp(self) -> std::result::Result<TcpStream, NatsStream> {
        match self {
            NatsStream::Plain(s) => Ok(s),
            s => Err(s),
        }
    }
}

impl AsyncRead for NatsStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NatsStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            NatsStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for NatsStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            NatsStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            NatsStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NatsStream::Plain(s) => Pin::new(s).poll_flush(cx),
            NatsStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NatsStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            NatsStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_cipher_lists() {
        let all = parse_cipher_list("HIGH").unwrap();
        assert_eq!(all.len(), 6);
        assert_eq!(parse_cipher_list("-ALL:HIGH").unwrap().len(), 6);
        // RSA key exchange only: OpenSSL accepts it, rustls implements none of these.
        assert!(parse_cipher_list("-ALL:RSA").unwrap().is_empty());
        assert_eq!(
            parse_cipher_list("ECDHE-RSA-AES128-GCM-SHA256").unwrap(),
            vec![CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
        );
        assert_eq!(
            parse_cipher_list("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256:AES128-SHA").unwrap(),
            vec![CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256]
        );
        assert_eq!(
            parse_cipher_list("ECDHE+AESGCM:!ECDSA").unwrap(),
            vec![CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
        );
        assert_eq!(parse_cipher_list("HIGH:!aNULL:!MD5").unwrap().len(), 6);
        let e = parse_cipher_list("FOO:BAR").unwrap_err();
        assert_eq!(e.status, Status::SslError);
        assert!(parse_cipher_list("").is_err());
        assert!(parse_cipher_list("ALL:!ALL").is_err());
    }

    #[test]
    fn tls13_suite_lists() {
        assert!(parse_tls13_suites("").unwrap().is_empty());
        assert_eq!(parse_tls13_suites("TLS_AES_128_GCM_SHA256").unwrap(), vec![CipherSuite::TLS13_AES_128_GCM_SHA256]);
        assert_eq!(
            parse_tls13_suites("TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256:nope").unwrap(),
            vec![CipherSuite::TLS13_CHACHA20_POLY1305_SHA256]
        );
        assert!(parse_tls13_suites("TLS_AES_128_CCM_SHA256").unwrap().is_empty());
        assert_eq!(parse_tls13_suites("nope").unwrap_err().status, Status::SslError);
    }

    #[test]
    fn no_suites_left_fails_to_build() {
        let mut t = TlsOptions::new();
        t.set_ciphers("-ALL:RSA").unwrap();
        t.set_cipher_suites("").unwrap();
        let e = t.client_config().unwrap_err();
        assert_eq!(e.status, Status::SslError);
        let mut t = TlsOptions::new();
        t.set_cipher_suites("").unwrap();
        t.set_skip_verify(true);
        assert!(t.client_config().is_ok());
    }

    #[test]
    fn bad_inputs_are_ssl_errors() {
        let mut t = TlsOptions::new();
        assert_eq!(t.load_ca_file("/nonexistent/ca.pem").unwrap_err().status, Status::SslError);
        assert_eq!(t.load_ca_dir("/nonexistent/dir").unwrap_err().status, Status::SslError);
        assert_eq!(t.add_ca_pem("not a pem").unwrap_err().status, Status::SslError);
        assert_eq!(t.load_cert_chain_files("/nonexistent/c.pem", "/nonexistent/k.pem").unwrap_err().status, Status::SslError);
        assert_eq!(t.set_cert_chain_pem("x", "y").unwrap_err().status, Status::SslError);
    }
}
