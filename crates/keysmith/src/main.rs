//! The `keysmith` binary.

fn main() -> std::process::ExitCode {
    let configured = std::env::var("KEYSMITH_BACKEND").ok();
    match keysmith::backend::select_backend(configured.as_deref()) {
        Ok(selected) => {
            println!(
                "keysmith {} with crypto backend {} ({}; fips: {})",
                env!("CARGO_PKG_VERSION"),
                selected.backend.name(),
                selected.reason,
                selected.backend.is_fips()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("keysmith: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
