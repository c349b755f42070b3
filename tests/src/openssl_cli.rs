//! Runs the `openssl` command line in a scratch directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use keysmith_model::{Algorithm, HashAlgorithm};
use tempfile::TempDir;

/// A scratch directory and the `openssl` tool.
#[derive(Debug)]
pub struct OpensslCli {
    dir: TempDir,
}

impl Default for OpensslCli {
    fn default() -> Self {
        Self::new()
    }
}

impl OpensslCli {
    /// A new scratch directory.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The path of `name` in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `contents` to `name` and returns its path as a string.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write scratch file");
        path_str(&path)
    }

    /// Reads `name` from the scratch directory.
    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("read scratch file")
    }

    /// Reads `name` as text.
    pub fn read_text(&self, name: &str) -> String {
        String::from_utf8(self.read(name)).expect("utf-8")
    }

    /// Runs `openssl args...` in the scratch directory; panics with its output unless it
    /// succeeds. Returns stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.try_run(args);
        assert!(ok, "openssl {} failed:\n{stdout}\n{stderr}", args.join(" "));
        stdout
    }

    /// Runs `openssl args...` and returns (success, stdout, stderr).
    pub fn try_run(&self, args: &[&str]) -> (bool, String, String) {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("the openssl command line must be installed (Debian package `openssl`)");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

impl OpensslCli {
    /// `openssl dgst -sign` of `message` with the algorithm's hash (and PSS with salt = hash
    /// length for PS*), writing the signature to `out`.
    pub fn dgst_sign(&self, algorithm: Algorithm, key: &str, message: &str, out: &str) {
        let mut args = vec!["dgst", digest_flag(algorithm), "-sign", key, "-out", out];
        args.extend_from_slice(pss_options(algorithm));
        args.push(message);
        self.run(&args);
    }

    /// `openssl dgst -verify` of `message` against `signature`; returns the CLI's output.
    pub fn dgst_verify(
        &self,
        algorithm: Algorithm,
        public_key: &str,
        signature: &str,
        message: &str,
    ) -> String {
        let mut args = vec![
            "dgst",
            digest_flag(algorithm),
            "-verify",
            public_key,
            "-signature",
            signature,
        ];
        args.extend_from_slice(pss_options(algorithm));
        args.push(message);
        self.run(&args)
    }
}

/// The `openssl dgst` flag for an algorithm's hash (SHA-256 for Ed25519, which has none).
pub fn digest_flag(algorithm: Algorithm) -> &'static str {
    match algorithm.hash() {
        Some(HashAlgorithm::Sha384) => "-sha384",
        Some(HashAlgorithm::Sha512) => "-sha512",
        _ => "-sha256",
    }
}

/// RSASSA-PSS with the salt as long as the hash (RFC 7518 §3.5), for PS* algorithms.
fn pss_options(algorithm: Algorithm) -> &'static [&'static str] {
    if algorithm.is_pss() {
        &[
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:digest",
        ]
    } else {
        &[]
    }
}

fn path_str(path: &Path) -> String {
    path.to_str().expect("utf-8 temp path").to_owned()
}

/// RSA material with a modulus of `bits` bits, written by the `openssl` command line from an
/// `asn1parse -genconf` description: fast at any size, because no primes are searched. The
/// modulus is random and the private values are not a consistent key: a backend that parsed the
/// private keys would refuse them (or spend a key check on them), so a size refusal shows that
/// no backend parser saw them.
#[derive(Debug)]
pub struct OversizedRsa {
    /// SPKI PEM (`PUBLIC KEY`).
    pub spki_pem: String,
    /// PKCS#1 PEM (`RSA PUBLIC KEY`).
    pub pkcs1_public_pem: String,
    /// PKCS#1 PEM (`RSA PRIVATE KEY`).
    pub pkcs1_private_pem: String,
    /// PKCS#8 PEM (`PRIVATE KEY`).
    pub pkcs8_private_pem: String,
    /// A certificate for the SPKI, signed by a P-256 key (`openssl x509 -force_pubkey`).
    pub certificate_pem: String,
}

impl OversizedRsa {
    /// Writes the material with `openssl` in `cli`'s scratch directory.
    pub fn new(cli: &OpensslCli, bits: usize) -> Self {
        let hex = |bytes: usize| {
            let text = cli.run(&["rand", "-hex", &bytes.to_string()]);
            let mut value = text.trim().to_owned();
            // Top bit set, so the number has exactly `bytes * 8` bits.
            value.replace_range(0..1, "F");
            value
        };
        let (n, d) = (hex(bits / 8), hex(bits / 8));
        let (p, q) = (hex(bits / 16), hex(bits / 16));
        let conf = format!(
            "asn1=SEQUENCE:spki\n[spki]\nalg=SEQUENCE:alg\nkey=BITWRAP,SEQUENCE:rsapub\n\
             [alg]\noid=OID:rsaEncryption\nparams=NULL\n\
             [rsapub]\nn=INTEGER:0x{n}\ne=INTEGER:65537\n"
        );
        cli.write("big-spki.cnf", conf);
        cli.run(&[
            "asn1parse",
            "-genconf",
            "big-spki.cnf",
            "-out",
            "big-spki.der",
            "-noout",
        ]);
        let rsapriv = format!(
            "[rsapriv]\nversion=INTEGER:0\nn=INTEGER:0x{n}\ne=INTEGER:65537\nd=INTEGER:0x{d}\n\
             p=INTEGER:0x{p}\nq=INTEGER:0x{q}\ndp=INTEGER:0x{d}\ndq=INTEGER:0x{p}\nqinv=INTEGER:0x{q}\n"
        );
        cli.write("big-pkcs1.cnf", format!("asn1=SEQUENCE:rsapriv\n{rsapriv}"));
        cli.run(&[
            "asn1parse",
            "-genconf",
            "big-pkcs1.cnf",
            "-out",
            "big-pkcs1.der",
            "-noout",
        ]);
        cli.write(
            "big-pkcs8.cnf",
            format!(
                "asn1=SEQUENCE:p8\n[p8]\nversion=INTEGER:0\nalg=SEQUENCE:alg\nkey=OCTWRAP,SEQUENCE:rsapriv\n\
                 [alg]\noid=OID:rsaEncryption\nparams=NULL\n{rsapriv}"
            ),
        );
        cli.run(&[
            "asn1parse",
            "-genconf",
            "big-pkcs8.cnf",
            "-out",
            "big-pkcs8.der",
            "-noout",
        ]);
        cli.run(&[
            "pkey",
            "-pubin",
            "-inform",
            "DER",
            "-in",
            "big-spki.der",
            "-out",
            "big-spki.pem",
        ]);
        cli.run(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "signer.key",
        ]);
        cli.run(&[
            "req",
            "-new",
            "-key",
            "signer.key",
            "-subj",
            "/CN=oversized",
            "-out",
            "big.csr",
        ]);
        cli.run(&[
            "x509",
            "-req",
            "-in",
            "big.csr",
            "-signkey",
            "signer.key",
            "-force_pubkey",
            "big-spki.pem",
            "-days",
            "1",
            "-out",
            "big.crt",
        ]);
        let spki_der = cli.read("big-spki.der");
        let (_, bit_string) = keysmith_crypto::der::spki_parts(&spki_der).expect("an SPKI");
        let pkcs1_public = bit_string[1..].to_vec();
        let lf = keysmith_crypto::pem::LineEnding::Lf;
        Self {
            spki_pem: cli.read_text("big-spki.pem"),
            pkcs1_public_pem: keysmith_crypto::pem::encode("RSA PUBLIC KEY", &pkcs1_public, lf),
            pkcs1_private_pem: keysmith_crypto::pem::encode(
                "RSA PRIVATE KEY",
                &cli.read("big-pkcs1.der"),
                lf,
            ),
            pkcs8_private_pem: keysmith_crypto::pem::encode(
                "PRIVATE KEY",
                &cli.read("big-pkcs8.der"),
                lf,
            ),
            certificate_pem: cli.read_text("big.crt"),
        }
    }
}
