//! Key material made by the `openssl` command line, once per test binary, and FusionAuth's
//! documented example.

use std::sync::OnceLock;

use crate::openssl_cli::OpensslCli;

/// One key in every form the command line writes.
#[derive(Debug, Clone)]
pub struct CliKey {
    /// PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    pub pkcs8_pem: String,
    /// PKCS#1 or SEC1 PEM (`BEGIN RSA PRIVATE KEY` / `BEGIN EC PRIVATE KEY`); `None` for Ed25519.
    pub traditional_pem: Option<String>,
    /// SPKI PEM (`BEGIN PUBLIC KEY`).
    pub public_pem: String,
    /// PKCS#1 public PEM (`BEGIN RSA PUBLIC KEY`); RSA only.
    pub rsa_public_pem: Option<String>,
    /// A self-signed certificate, PEM, `CN=cli.example`.
    pub certificate_pem: String,
    /// The same certificate as DER.
    pub certificate_der: Vec<u8>,
}

/// Keys from the command line.
#[derive(Debug)]
pub struct CliKeys {
    /// RSA 2048.
    pub rsa: CliKey,
    /// A second RSA 2048 key, for mismatches.
    pub rsa_other: CliKey,
    /// RSA 1024: allowed only as a verify-only public key or certificate.
    pub rsa_1024: CliKey,
    /// EC P-256.
    pub p256: CliKey,
    /// EC P-384.
    pub p384: CliKey,
    /// EC P-521.
    pub p521: CliKey,
    /// Ed25519.
    pub ed25519: CliKey,
    /// An encrypted PKCS#8 PEM (password `x`).
    pub encrypted_pkcs8_pem: String,
    /// A secp256k1 key (an unsupported curve), PKCS#8 PEM.
    pub secp256k1_pem: String,
    /// Signatures of [`SIGNED_MESSAGE`] with `rsa_1024`, by the CLI, for every RSA algorithm.
    pub rsa_1024_signatures: Vec<(keysmith_model::Algorithm, Vec<u8>)>,
}

/// The message the command line signs.
pub const SIGNED_MESSAGE: &[u8] = b"signed by the openssl command line";

fn cli_key(cli: &OpensslCli, name: &str, genpkey: &[&str], traditional: Option<&str>) -> CliKey {
    let key = format!("{name}.pem");
    let mut args = vec!["genpkey"];
    args.extend_from_slice(genpkey);
    args.extend_from_slice(&["-out", &key]);
    cli.run(&args);
    let public = format!("{name}.pub.pem");
    cli.run(&["pkey", "-in", &key, "-pubout", "-out", &public]);
    let traditional_pem = traditional.map(|command| {
        let out = format!("{name}.trad.pem");
        // OpenSSL 3's `rsa` writes PKCS#8 unless told -traditional; `ec` writes SEC1.
        let mut args = vec![command, "-in", &key, "-out", &out];
        if command == "rsa" {
            args.push("-traditional");
        }
        cli.run(&args);
        let text = cli.read_text(&out);
        let label = if command == "rsa" {
            "RSA PRIVATE KEY"
        } else {
            "EC PRIVATE KEY"
        };
        assert!(
            text.contains(&format!("BEGIN {label}")),
            "{name}: expected {label}"
        );
        text
    });
    let rsa_public_pem = (traditional == Some("rsa")).then(|| {
        let out = format!("{name}.rsapub.pem");
        cli.run(&["rsa", "-in", &key, "-RSAPublicKey_out", "-out", &out]);
        cli.read_text(&out)
    });
    let cert = format!("{name}.crt");
    cli.run(&[
        "req",
        "-x509",
        "-key",
        &key,
        "-subj",
        "/CN=cli.example/O=Keysmith Tests",
        "-days",
        "30",
        "-out",
        &cert,
    ]);
    let cert_der = format!("{name}.crt.der");
    cli.run(&["x509", "-in", &cert, "-outform", "DER", "-out", &cert_der]);
    CliKey {
        pkcs8_pem: cli.read_text(&key),
        traditional_pem,
        public_pem: cli.read_text(&public),
        rsa_public_pem,
        certificate_pem: cli.read_text(&cert),
        certificate_der: cli.read(&cert_der),
    }
}

/// The keys, generated on first use.
pub fn cli_keys() -> &'static CliKeys {
    static KEYS: OnceLock<CliKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let cli = OpensslCli::new();
        let rsa = |bits: &str| ["-algorithm", "RSA", "-pkeyopt", bits].map(str::to_owned);
        let rsa2048 = rsa("rsa_keygen_bits:2048");
        let rsa2048: Vec<&str> = rsa2048.iter().map(String::as_str).collect();
        let rsa1024 = rsa("rsa_keygen_bits:1024");
        let rsa1024: Vec<&str> = rsa1024.iter().map(String::as_str).collect();
        let ec = |curve: &'static str| ["-algorithm", "EC", "-pkeyopt", curve];
        let rsa_1024 = cli_key(&cli, "rsa1024", &rsa1024, Some("rsa"));
        cli.write("message.bin", SIGNED_MESSAGE);
        let mut rsa_1024_signatures = Vec::new();
        // PS512 cannot exist with a 1024-bit key: a 64-byte hash and a 64-byte salt do not fit.
        let algorithms = keysmith_model::Algorithm::of_type(keysmith_model::KeyType::Rsa)
            .filter(|a| *a != keysmith_model::Algorithm::PS512);
        for algorithm in algorithms {
            let out = format!("rsa1024-{algorithm}.sig");
            cli.dgst_sign(algorithm, "rsa1024.pem", "message.bin", &out);
            rsa_1024_signatures.push((algorithm, cli.read(&out)));
        }
        cli.run(&[
            "pkcs8",
            "-topk8",
            "-in",
            "rsa1024.pem",
            "-v2",
            "aes256",
            "-passout",
            "pass:x",
            "-out",
            "enc.pem",
        ]);
        cli.run(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:secp256k1",
            "-out",
            "k1.pem",
        ]);
        CliKeys {
            rsa: cli_key(&cli, "rsa", &rsa2048, Some("rsa")),
            rsa_other: cli_key(&cli, "rsa2", &rsa2048, Some("rsa")),
            p256: cli_key(&cli, "p256", &ec("ec_paramgen_curve:P-256"), Some("ec")),
            p384: cli_key(&cli, "p384", &ec("ec_paramgen_curve:P-384"), Some("ec")),
            p521: cli_key(&cli, "p521", &ec("ec_paramgen_curve:P-521"), Some("ec")),
            ed25519: cli_key(&cli, "ed25519", &["-algorithm", "ED25519"], None),
            rsa_1024_signatures,
            rsa_1024,
            encrypted_pkcs8_pem: cli.read_text("enc.pem"),
            secp256k1_pem: cli.read_text("k1.pem"),
        }
    })
}

/// FusionAuth's documented RSA certificate, exactly as its import example sends it (bare
/// base64 DER).
pub const FUSIONAUTH_CERTIFICATE_B64: &str = "MIICrjCCAZagAwIBAQIQeA4dW+47Q7KuyNuZuZrcTjANBgkqhkiG9w0BAQsFADATMREwDwYDVQQDEwhhY21lLmNvbTAeFw0xOTA3MDMyMTI0MzJaFw0yOTA3MDMyMTI0MzJaMBMxETAPBgNVBAMTCGFjbWUuY29tMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnbNGwtU33S4vbipGeIwe/DhLEfc5FaEOHK4WeQ3QF8zZGyI09bNQdkp8uNTFfVehIgmvYHmJWPeaNrYK//qjWAsSvYYoytj1j4BywI8uLSjt8QvzaoFUMOi1cBbXM2586R7yTRm7jMk91MLM101zkrf1cmFdRUwTpeJjw66XG3JlTGZCmZsJG7m6+nbe5LHt4CiufmJHujGeFzgwby3jXZtuK1y3ua3380Fv95JyG3TucnMwEw5EYQ8Q+dZzNC8OSaKrgmnN0gWdsJ7P7vu6lMy6sXKhvcxo1p+tXywYPFJahxA+rZDG16RLbUppCx10q8tIcFKeAyl4eywzBaBLxwIDAQABMA0GCSqGSIb3DQEBCwUAA4IBAQBbsHWIBDwW1hFEin0D5BK/rwpCIZ4jlJ9PON4q0rF/tl9+pSzTqMeEqU0NMlJ7Xm2O5U0i8Sy8Lhemo9qYCZ76qEiHFZwQBmNAC4de92KMcw4Q7q5CVjTGv3X+Avlg/c+I+zJLO/IJlzhOvHj+iCeBZDznt6/KlFfXA9EvlznxqZCQHSf2f94UlvBmqbVYOfXE5+OQ3URyNyh88g9yClSb4hzu1lmzevZ/AVbe2kTjZQQWB0TmqPg/6SS+nhsauAMK1kSlSK9t6CPz/L7olJeAi7G/PZPaYG1gIFVFaBnYM0rwagQGtPMi1uCERCKrkUlBh6gSyN7SGJBvWEh6+zZF";

/// The `publicKey` FusionAuth documents for that certificate.
pub const FUSIONAUTH_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnbNGwtU33S4vbipGeIwe\n/DhLEfc5FaEOHK4WeQ3QF8zZGyI09bNQdkp8uNTFfVehIgmvYHmJWPeaNrYK//qj\nWAsSvYYoytj1j4BywI8uLSjt8QvzaoFUMOi1cBbXM2586R7yTRm7jMk91MLM101z\nkrf1cmFdRUwTpeJjw66XG3JlTGZCmZsJG7m6+nbe5LHt4CiufmJHujGeFzgwby3j\nXZtuK1y3ua3380Fv95JyG3TucnMwEw5EYQ8Q+dZzNC8OSaKrgmnN0gWdsJ7P7vu6\nlMy6sXKhvcxo1p+tXywYPFJahxA+rZDG16RLbUppCx10q8tIcFKeAyl4eywzBaBL\nxwIDAQAB\n-----END PUBLIC KEY-----";

/// The `certificate` FusionAuth documents (PEM with `\n`).
pub const FUSIONAUTH_CERTIFICATE_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIICrjCCAZagAwIBAQIQeA4dW+47Q7KuyNuZuZrcTjANBgkqhkiG9w0BAQsFADAT\nMREwDwYDVQQDEwhhY21lLmNvbTAeFw0xOTA3MDMyMTI0MzJaFw0yOTA3MDMyMTI0\nMzJaMBMxETAPBgNVBAMTCGFjbWUuY29tMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\nMIIBCgKCAQEAnbNGwtU33S4vbipGeIwe/DhLEfc5FaEOHK4WeQ3QF8zZGyI09bNQ\ndkp8uNTFfVehIgmvYHmJWPeaNrYK//qjWAsSvYYoytj1j4BywI8uLSjt8QvzaoFU\nMOi1cBbXM2586R7yTRm7jMk91MLM101zkrf1cmFdRUwTpeJjw66XG3JlTGZCmZsJ\nG7m6+nbe5LHt4CiufmJHujGeFzgwby3jXZtuK1y3ua3380Fv95JyG3TucnMwEw5E\nYQ8Q+dZzNC8OSaKrgmnN0gWdsJ7P7vu6lMy6sXKhvcxo1p+tXywYPFJahxA+rZDG\n16RLbUppCx10q8tIcFKeAyl4eywzBaBLxwIDAQABMA0GCSqGSIb3DQEBCwUAA4IB\nAQBbsHWIBDwW1hFEin0D5BK/rwpCIZ4jlJ9PON4q0rF/tl9+pSzTqMeEqU0NMlJ7\nXm2O5U0i8Sy8Lhemo9qYCZ76qEiHFZwQBmNAC4de92KMcw4Q7q5CVjTGv3X+Avlg\n/c+I+zJLO/IJlzhOvHj+iCeBZDznt6/KlFfXA9EvlznxqZCQHSf2f94UlvBmqbVY\nOfXE5+OQ3URyNyh88g9yClSb4hzu1lmzevZ/AVbe2kTjZQQWB0TmqPg/6SS+nhsa\nuAMK1kSlSK9t6CPz/L7olJeAi7G/PZPaYG1gIFVFaBnYM0rwagQGtPMi1uCERCKr\nkUlBh6gSyN7SGJBvWEh6+zZF\n-----END CERTIFICATE-----";
