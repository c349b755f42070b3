//! The RSA pool through the binary (`rsa_pool_2048`): keys of a pooled size come from ready
//! pairs (the `/metrics` counters say so), and each is a working key, checked by the `openssl`
//! command line: its certificate is validly self-signed over the key's public key, and a
//! signature the server makes with it verifies under that public key.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use test_case::test_case;

use crate::support::{API_KEY, Options, Server};
use crate::tokens;

/// The value of the series `name` in a `/metrics` scrape, if present.
fn series(server: &Server, name: &str) -> Option<u64> {
    let scraped = server.raw("GET", "/metrics", &[("Authorization", API_KEY)], None);
    assert_eq!(scraped.status, 200);
    scraped
        .text()
        .lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
}

fn openssl(dir: &std::path::Path, args: &[&str]) -> String {
    let output = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl on PATH");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn pooled_rsa_keys_are_certified_and_sign(backend: &str) {
    let temp = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        &temp.path().join("data"),
        backend,
        Options {
            api_key: Some(API_KEY.into()),
            env: vec![("KEYSMITH_RSA_POOL_2048".into(), "2".into())],
            ..Default::default()
        },
    );
    let ready = r#"keysmith_rsa_pool_ready{bits="2048"}"#;
    let started = Instant::now();
    while series(&server, ready) != Some(2) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the pool did not fill: {:?}",
            series(&server, ready)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        series(&server, r#"keysmith_rsa_pool_target{bits="2048"}"#),
        Some(2)
    );
    assert_eq!(
        series(&server, r#"keysmith_rsa_pool_target{bits="3072"}"#),
        None,
        "sizes without a pool have no series"
    );

    let keys = [
        tokens::generate(&server, "RS256", Some(2048), "pooled 1"),
        tokens::generate(&server, "PS512", Some(2048), "pooled 2"),
    ];
    assert_eq!(
        series(&server, r#"keysmith_rsa_pool_taken_total{bits="2048"}"#),
        Some(2)
    );
    assert_eq!(
        series(&server, r#"keysmith_rsa_pool_missed_total{bits="2048"}"#),
        Some(0)
    );
    assert_ne!(
        keys[0]["publicKey"], keys[1]["publicKey"],
        "a pair is used once"
    );

    let dir = temp.path();
    for (key, digest) in keys.iter().zip(["-sha256", "-sha512"]) {
        std::fs::write(dir.join("cert.pem"), key["certificate"].as_str().unwrap()).unwrap();
        std::fs::write(dir.join("public.pem"), key["publicKey"].as_str().unwrap()).unwrap();
        // Self-signed: the certificate verifies as its own issuer.
        let verified = openssl(dir, &["verify", "-CAfile", "cert.pem", "cert.pem"]);
        assert!(verified.contains("cert.pem: OK"), "{verified}");
        assert_eq!(
            openssl(dir, &["x509", "-in", "cert.pem", "-noout", "-pubkey"]),
            openssl(dir, &["pkey", "-pubin", "-in", "public.pem"]),
            "the certificate is over the key's public key"
        );
        let text = openssl(dir, &["x509", "-in", "cert.pem", "-noout", "-text"]);
        assert!(text.contains("Public-Key: (2048 bit)"), "{text}");

        // A signature the server makes with the stored private key, checked outside it.
        let signed = server.call(
            "POST",
            &format!("/api/key/{}/sign", key["id"].as_str().unwrap()),
            Some(json!({"payload": URL_SAFE_NO_PAD.encode(b"pooled")})),
        );
        assert_eq!(signed.status, 200, "{}", signed.text());
        let signature = URL_SAFE_NO_PAD
            .decode(signed.json()["signature"].as_str().unwrap())
            .unwrap();
        std::fs::write(dir.join("message"), b"pooled").unwrap();
        std::fs::write(dir.join("signature"), signature).unwrap();
        let mut args = vec![
            "dgst",
            digest,
            "-verify",
            "public.pem",
            "-signature",
            "signature",
        ];
        if key["algorithm"] == "PS512" {
            args.extend([
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:digest",
            ]);
        }
        args.push("message");
        let verified = openssl(dir, &args);
        assert!(verified.contains("Verified OK"), "{verified}");
    }
    // The pool refills after the takes.
    let started = Instant::now();
    while series(&server, ready) != Some(2) {
        assert!(started.elapsed() < Duration::from_secs(120), "no refill");
        std::thread::sleep(Duration::from_millis(20));
    }
}
