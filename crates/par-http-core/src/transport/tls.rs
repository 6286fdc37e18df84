//! HTTPS: the TLS layer between TCP and HTTP/1.1, with rustls on the `ring` provider.
//!
//! [`TlsConfig`] is the plain-data part of a client's [`Config`](crate::Config): which
//! roots to trust (the built-in set, plus CAs the user adds in PEM), an optional client
//! identity for mutual TLS, and the explicit opt-out of certificate verification. The
//! connector ([`Http1Dispatch`](crate::Http1Dispatch)) turns it into one rustls
//! `ClientConfig` per client, the first time an `https` URL is connected, and
//! [`connect`](crate::transport::connect) runs the handshake after TCP, inside the connect timeout.
//! The handshake sends SNI (for a DNS name), verifies the certificate chain and the host
//! name, and offers ALPN `h2` (with the `http2` feature, unless the client is HTTP/1.1
//! only) and `http/1.1`; [`TlsConnector::handshake`] says which one the server chose.
//!
//! Every TLS failure becomes an [`ErrorKind::Tls`] error whose
//! [`source`](std::error::Error::source) is the `rustls::Error` that names the cause
//! (unknown issuer, wrong name, expired, an alert from the server) when rustls gave one,
//! else the IO error that cut the handshake short (reset, end of stream).

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use url::{Host, Url};

use crate::error::{Error, ErrorKind, Result};
use crate::runtime::BoxIo;

/// The ALPN protocol name of HTTP/1.1.
const ALPN_HTTP1: &[u8] = b"http/1.1";
/// The ALPN protocol name of HTTP/2 over TLS (RFC 9113 §3.2).
const ALPN_H2: &[u8] = b"h2";

/// The TLS settings of a client: trusted roots, client identity, verification.
///
/// The default trusts the built-in roots (webpki-roots, or the operating system's store
/// with the `native-roots` feature), sends no client certificate and verifies every
/// server certificate and host name.
///
/// # Examples
///
/// ```
/// use par_http_core::{Config, TlsConfig};
///
/// let mut tls = TlsConfig::default();
/// assert!(tls.add_root_certificate_pem(b"not a certificate").is_err());
/// assert!(!tls.danger_accept_invalid_certs);
///
/// let mut config = Config::default();
/// config.tls = tls;
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct TlsConfig {
    /// Trust the built-in root certificates (default `true`): webpki-roots, or with the
    /// `native-roots` feature the operating system's store. When `false`, only the roots
    /// added with [`add_root_certificate_pem`](Self::add_root_certificate_pem) are trusted.
    pub built_in_roots: bool,
    /// Accept any server certificate: expired, self-signed, for another host name, from an
    /// unknown CA (default `false`). **Dangerous**: the connection is still encrypted, but
    /// to whoever answers, so anyone on the network path can read and change the traffic
    /// by presenting a certificate of their own. For tests against throwaway servers only.
    pub danger_accept_invalid_certs: bool,
    roots: Vec<CertificateDer<'static>>,
    identity: Option<Arc<CertifiedKey>>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            built_in_roots: true,
            danger_accept_invalid_certs: false,
            roots: Vec::new(),
            identity: None,
        }
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The identity holds a private key: show only that there is one.
        f.debug_struct("TlsConfig")
            .field("built_in_roots", &self.built_in_roots)
            .field(
                "danger_accept_invalid_certs",
                &self.danger_accept_invalid_certs,
            )
            .field("extra_roots", &self.roots.len())
            .field("identity", &self.identity.is_some())
            .finish()
    }
}

impl TlsConfig {
    /// Trusts every certificate in `pem` (one or more `BEGIN CERTIFICATE` blocks) as a
    /// root, in addition to the built-in ones.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::TlsConfig`] error when `pem` holds no certificate, a block is not
    /// valid PEM, or a certificate can't be used as a trust anchor. Nothing is added then.
    pub fn add_root_certificate_pem(&mut self, pem: &[u8]) -> Result<()> {
        let certs = parse_certificates(pem, "root certificate")?;
        // Check that each one makes a trust anchor now rather than at the first handshake.
        let mut store = RootCertStore::empty();
        for cert in &certs {
            store
                .add(cert.clone())
                .map_err(|err| config_error("root certificate", err))?;
        }
        self.roots.extend(certs);
        Ok(())
    }

    /// The client certificate chain (leaf first) and its private key (PKCS#8, PKCS#1 or
    /// SEC1, in PEM) presented to servers that ask for one (mutual TLS).
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::TlsConfig`] error when either PEM holds nothing usable, the key type
    /// is not supported, or the key does not match the leaf certificate.
    pub fn set_identity_pem(&mut self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<()> {
        let chain = parse_certificates(cert_chain_pem, "client certificate")?;
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|err| config_error("client private key", err))?;
        let identity = CertifiedKey::from_der(chain, key, &provider())
            .map_err(|err| config_error("client identity", err))?;
        self.identity = Some(Arc::new(identity));
        Ok(())
    }

    /// The number of root certificates added with
    /// [`add_root_certificate_pem`](Self::add_root_certificate_pem).
    pub fn extra_root_count(&self) -> usize {
        self.roots.len()
    }

    /// True when a client identity is set for mutual TLS.
    pub fn has_identity(&self) -> bool {
        self.identity.is_some()
    }

    /// The rustls client configuration these settings describe.
    fn client_config(&self) -> Result<ClientConfig, rustls::Error> {
        let provider = Arc::new(provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = if self.danger_accept_invalid_certs {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
                    algorithms: provider.signature_verification_algorithms,
                }))
        } else {
            let mut roots = RootCertStore::empty();
            if self.built_in_roots {
                add_built_in_roots(&mut roots);
            }
            for cert in &self.roots {
                roots.add(cert.clone())?;
            }
            builder.with_root_certificates(roots)
        };
        let mut config = match &self.identity {
            Some(identity) => builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(
                CertifiedKey::clone(identity),
            ))),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        Ok(config)
    }
}

fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

#[cfg(not(feature = "native-roots"))]
fn add_built_in_roots(roots: &mut RootCertStore) {
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
}

#[cfg(feature = "native-roots")]
fn add_built_in_roots(roots: &mut RootCertStore) {
    // Certificates of the store that fail to load or parse are skipped, as a browser
    // would: one bad entry must not make every host unreachable.
    let loaded = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(loaded.certs);
}

fn parse_certificates(pem: &[u8], what: &'static str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| config_error(what, err))?;
    if certs.is_empty() {
        return Err(config_error(what, NoCertificate));
    }
    Ok(certs)
}

fn config_error(what: &'static str, cause: impl StdError + Send + Sync + 'static) -> Error {
    Error::new(ErrorKind::TlsConfig).with_source(ConfigError {
        what,
        cause: Box::new(cause),
    })
}

/// The cause of an [`ErrorKind::TlsConfig`] error: which input was refused, and why.
#[derive(Debug)]
struct ConfigError {
    what: &'static str,
    cause: Box<dyn StdError + Send + Sync>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.cause)
    }
}

impl StdError for ConfigError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.cause)
    }
}

#[derive(Debug)]
struct NoCertificate;

impl fmt::Display for NoCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no certificate found in the pem input")
    }
}

impl StdError for NoCertificate {}

/// The TLS side of a client's connector: built once from its [`TlsConfig`].
#[derive(Clone)]
pub(crate) struct TlsConnector {
    inner: futures_rustls::TlsConnector,
}

impl TlsConnector {
    /// Builds the rustls configuration of `config`; ALPN offers `h2` first when
    /// `offer_h2`.
    pub(crate) fn new(config: &TlsConfig, offer_h2: bool) -> Result<Self, rustls::Error> {
        let mut client = config.client_config()?;
        if offer_h2 {
            client.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec()];
        }
        Ok(Self {
            inner: futures_rustls::TlsConnector::from(Arc::new(client)),
        })
    }

    /// Runs the TLS handshake over `io` for the host of `url`. The flag is true when
    /// the server chose `h2` by ALPN.
    pub(crate) async fn handshake(&self, url: &Url, io: BoxIo) -> Result<(BoxIo, bool)> {
        let name = server_name(url)?;
        match self.inner.connect(name, io).await {
            Ok(stream) => {
                let h2 = stream.get_ref().1.alpn_protocol() == Some(ALPN_H2);
                Ok((Box::new(stream), h2))
            }
            Err(err) => Err(handshake_error(err)),
        }
    }
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector").finish_non_exhaustive()
    }
}

/// The name the certificate must match: the DNS name (also sent as SNI) or the IP address.
fn server_name(url: &Url) -> Result<ServerName<'static>> {
    let name = match url.host() {
        Some(Host::Domain(domain)) => ServerName::try_from(domain.to_owned()),
        Some(Host::Ipv4(ip)) => Ok(ServerName::from(std::net::IpAddr::V4(ip))),
        Some(Host::Ipv6(ip)) => Ok(ServerName::from(std::net::IpAddr::V6(ip))),
        None => return Err(Error::new(ErrorKind::InvalidUrl)),
    };
    name.map_err(|err| Error::new(ErrorKind::InvalidUrl).with_source(err))
}

/// A failed handshake: the rustls error as the source when there is one.
fn handshake_error(err: io::Error) -> Error {
    let error = Error::new(ErrorKind::Tls);
    match err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => error.with_source(tls.clone()),
        None => error.with_source(err),
    }
}

/// An IO error that is really a TLS failure after the handshake (for example the alert
/// of a server that refused the client's certificate, which TLS 1.3 sends only once the
/// client has finished its side) becomes a [`ErrorKind::Tls`] error; others are kept.
pub(crate) fn reclassify(error: Error) -> Error {
    if error.kind() != &ErrorKind::Io {
        return error;
    }
    let tls = StdError::source(&error)
        .and_then(|source| source.downcast_ref::<io::Error>())
        .and_then(|io| io.get_ref())
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .cloned();
    match tls {
        Some(tls) => {
            let renamed = Error::new(ErrorKind::Tls).with_source(tls);
            match (error.method(), error.url()) {
                (Some(method), Some(url)) => renamed.with_request(method, url),
                _ => renamed,
            }
        }
        None => error,
    }
}

/// The verifier of `danger_accept_invalid_certs`: any certificate chain is accepted, but
/// the handshake signatures are still checked against the presented certificate.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_pem_is_a_tls_config_error() {
        let mut tls = TlsConfig::default();
        let err = tls.add_root_certificate_pem(b"hello").unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::TlsConfig);
        assert!(err.to_string().contains("root certificate"), "{err}");
        let bad = b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
        assert!(tls.add_root_certificate_pem(bad).is_err());
        assert_eq!(tls.extra_root_count(), 0);
        let err = tls.set_identity_pem(b"", b"").unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::TlsConfig);
        assert!(!tls.has_identity());
    }

    #[test]
    fn the_default_config_builds_with_built_in_roots_and_alpn() {
        let config = TlsConfig::default().client_config().unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let dangerous = TlsConfig {
            danger_accept_invalid_certs: true,
            ..TlsConfig::default()
        };
        assert!(dangerous.client_config().is_ok());
    }

    #[test]
    fn server_names_come_from_the_host() {
        let url = Url::parse("https://example.com/").unwrap();
        assert!(matches!(server_name(&url), Ok(ServerName::DnsName(_))));
        let url = Url::parse("https://127.0.0.1:8443/").unwrap();
        assert!(matches!(server_name(&url), Ok(ServerName::IpAddress(_))));
        let url = Url::parse("https://[::1]/").unwrap();
        assert!(matches!(server_name(&url), Ok(ServerName::IpAddress(_))));
    }

    #[test]
    fn a_rustls_error_inside_an_io_error_becomes_a_tls_error() {
        let cause = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        let io = io::Error::new(io::ErrorKind::InvalidData, cause);
        let err = Error::io(ErrorKind::Io, io).with_request(&http::Method::GET, "https://a.test/");
        let err = reclassify(err);
        assert!(err.is_tls(), "{err:?}");
        assert_eq!(err.url(), Some("https://a.test/"));
        assert!(
            err.to_string().starts_with("tls handshake failed: "),
            "{err}"
        );
        let plain = Error::io(
            ErrorKind::Io,
            io::Error::from(io::ErrorKind::ConnectionReset),
        );
        assert!(reclassify(plain).is_io());
    }
}
