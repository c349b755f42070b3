//! The Key Master page in a real browser: Debian's Chromium driven by playwright-core
//! (`tests/browser/admin_check.mjs`). `.ci/run` installs both and sets `KS_BROWSER_DIR`;
//! without it the test says so and does nothing.

use crate::support::{API_KEY, Server};
use test_case::test_case;

// One backend: the page and its API calls are not the backend's.
#[test_case("aws-lc" ; "aws_lc")]
fn admin_page_in_a_real_browser(backend: &str) {
    let Some(dir) = crate::support::tool("KS_BROWSER_DIR", "the browser test") else {
        return;
    };
    let server = Server::start(backend);
    // The page itself: embedded, with a strict content security policy.
    let page = server.raw("GET", "/admin/", &[], None);
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(server.raw("GET", "/admin", &[], None).status, 301);

    let artifacts = format!(
        "{}/../../target/browser-artifacts/{backend}",
        env!("CARGO_MANIFEST_DIR")
    );
    let script = std::path::Path::new(&dir).join("admin_check.mjs");
    let output = std::process::Command::new("node")
        .arg(&script)
        .args([&format!("http://{}", server.addr), API_KEY, &artifacts])
        .current_dir(&dir)
        .output()
        .expect("node on PATH");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("admin_check.mjs on {backend}:\n{stdout}");
    assert!(
        output.status.success(),
        "the browser test failed on {backend}:\n{stdout}\n{}\nscreenshots: {artifacts}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("admin page: all checks passed"));
}
