//! A throw-away certificate authority and server certificates for the local world.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A CA made at start; its certificate is what the functions are told to trust.
pub struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    /// The CA certificate, PEM.
    pub cert_pem: String,
}

/// The files a test server reads its TLS settings from, written by
/// [`TestCa::write_server_files`].
pub struct ServerFiles {
    /// The CA certificate (`ca.pem`), for clients and for the server.
    pub ca_file: PathBuf,
    /// The server's certificate (`server.crt`).
    pub cert_file: PathBuf,
    /// The server's private key (`server.key`).
    pub key_file: PathBuf,
}

/// A rustls client configuration that trusts only the CA certificates in
/// `ca_pem` (the test kit's own logins).
pub fn client_config(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| e.to_string())?;
        roots.add(cert).map_err(|e| e.to_string())?;
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A server certificate and its key, PEM.
pub struct ServerCert {
    /// Certificate chain (leaf only), PEM.
    pub cert_pem: String,
    /// Private key, PEM.
    pub key_pem: String,
}

impl TestCa {
    /// A new CA.
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "rotation-functions test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("a CA key");
        let cert = params.self_signed(&key).expect("the CA certificate");
        Self {
            params,
            key,
            cert_pem: cert.pem(),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn server_cert(&self, names: &[&str]) -> ServerCert {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("server parameters");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        let key = KeyPair::generate().expect("a server key");
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params
            .signed_by(&key, &issuer)
            .expect("signing the server certificate");
        ServerCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Writes `dir/ca.pem`, and a certificate for `names` with its key as
    /// `dir/server.crt` and `dir/server.key`.
    pub fn write_server_files(&self, dir: &Path, names: &[String]) -> ServerFiles {
        let ca_file = self.write_ca(dir);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let server = self.server_cert(&names);
        let cert_file = dir.join("server.crt");
        let key_file = dir.join("server.key");
        std::fs::write(&cert_file, &server.cert_pem).expect("writing server.crt");
        std::fs::write(&key_file, &server.key_pem).expect("writing server.key");
        ServerFiles {
            ca_file,
            cert_file,
            key_file,
        }
    }

    /// Writes the CA certificate to `dir/ca.pem` and returns its path.
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.cert_pem).expect("writing ca.pem");
        path
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}
