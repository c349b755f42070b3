//! Sets `cfg(ml_dsa)` when the OpenSSL this crate links (told by openssl-sys, which `links`
//! it) is 3.5 or newer, the first with ML-DSA. The system's OpenSSL 3.0 has none; the
//! `vendored` feature's 3.5 LTS has it.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ml_dsa)");
    println!("cargo::rerun-if-env-changed=DEP_OPENSSL_VERSION_NUMBER");
    let version = std::env::var("DEP_OPENSSL_VERSION_NUMBER")
        .ok()
        .and_then(|hex| u64::from_str_radix(&hex, 16).ok());
    if version.is_some_and(|number| number >= 0x3050_0000) {
        println!("cargo::rustc-cfg=ml_dsa");
    }
}
