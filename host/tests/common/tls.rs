//! Certificates for the TLS tests, made with rcgen on 127.0.0.1: a CA, a server certificate
//! it signed (for 127.0.0.1 and localhost), a client certificate it signed (PEM certificate
//! then key, in one string) and a key that fits neither.

/// The PEM texts of [`pki`].
pub struct Pki {
    pub ca: String,
    pub server_cert: String,
    pub server_key: String,
    pub client: String,
    pub other_key: String,
}

pub fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    // Each certificate gets its own subject: with rcgen's default one on all of them, a
    // leaf's subject equals its issuer and OpenSSL takes it for self-signed (unknown CA).
    let named = |mut params: CertificateParams, cn: &str| {
        params.distinguished_name.push(DnType::CommonName, cn);
        params
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = named(
        CertificateParams::new(Vec::<String>::new()).unwrap(),
        "sluice test CA",
    );
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = named(
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap(),
        "127.0.0.1",
    )
    .signed_by(&server_key, &ca, &ca_key)
    .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = named(
        CertificateParams::new(vec!["client".to_string()]).unwrap(),
        "client",
    );
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = client_params.signed_by(&client_key, &ca, &ca_key).unwrap();
    Pki {
        ca: ca.pem(),
        server_cert: server.pem(),
        server_key: server_key.serialize_pem(),
        client: format!("{}{}", client.pem(), client_key.serialize_pem()),
        other_key: KeyPair::generate().unwrap().serialize_pem(),
    }
}
