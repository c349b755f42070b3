//! `keysmith key ...` offline on a stopped server's data and online against a running one, with
//! the exported public key checked by the `openssl` command line.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{API_KEY, Options, Server};
use test_case::test_case;

fn run(args: &[&str], data: Option<&Path>) -> (bool, String, String) {
    let mut command = crate::support::keysmith_command();
    command.args(args);
    if let Some(data) = data {
        command.arg("--data").arg(data);
    }
    let output = command.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn key_commands_offline_and_online(backend: &str) {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let options = Options {
        api_key: Some(API_KEY.into()),
        ..Default::default()
    };
    // A `--url` that cannot be used is named as such (it once came out as a backup error).
    for command in [&["key", "list"][..], &["backup", "unused.redb"][..]] {
        let args = [command, &["--url", "ftp://nowhere", "--backend", backend]].concat();
        let (ok, _, stderr) = run(&args, None);
        assert!(
            !ok && stderr.contains("keysmith: --url ftp://nowhere: --url must start with http")
                && !stderr.contains("backup:"),
            "{args:?}: {stderr}"
        );
    }
    // Before the first start there is no data directory: an offline command says so, naming
    // it (not "storage failure: I/O error"), and creates nothing.
    let (ok, _, stderr) = run(&["key", "list", "--backend", backend], Some(&data));
    let said = format!(
        "keysmith: the data directory {} does not exist",
        data.display()
    );
    assert!(
        !ok && stderr.lines().any(|line| line.starts_with(&said)) && !stderr.contains("I/O error"),
        "{stderr}"
    );
    assert!(!data.exists());
    // The first start makes the data file and its master key file; then offline work.
    let server = Server::start_in(&data, backend, options.clone());
    let (ok, _, stderr) = run(&["key", "list", "--backend", backend], Some(&data));
    assert!(
        !ok && stderr.contains("in use by another process"),
        "{stderr}"
    );
    assert!(server.stop().0.success());

    let (ok, out, err) = run(
        &[
            "key",
            "generate",
            "--algorithm",
            "ES256",
            "--name",
            "cli-ec",
            "--json",
            "--backend",
            backend,
        ],
        Some(&data),
    );
    assert!(ok, "{err}");
    let generated = json(&out)["key"].clone();
    let id = generated["id"].as_str().unwrap().to_owned();
    // Import a key made by the openssl command line.
    let pem = temp.path().join("rsa.pem");
    // Output captured: `genpkey` prints its prime search's progress dots on stderr, which
    // would flood the test output (shown only if it fails).
    let made = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&pem)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "openssl genpkey: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let (ok, out, err) = run(
        &[
            "key",
            "import",
            "--name",
            "cli-rsa",
            "--algorithm",
            "RS256",
            "--private-key",
            pem.to_str().unwrap(),
            "--json",
            "--backend",
            backend,
        ],
        Some(&data),
    );
    assert!(ok, "{err}");
    let imported = json(&out)["key"].clone();
    assert!(!out.contains("PRIVATE KEY"));
    let (ok, _, err) = run(
        &["key", "rename", &id, "cli-ec-renamed", "--backend", backend],
        Some(&data),
    );
    assert!(ok, "{err}");
    let (ok, table, _) = run(&["key", "list", "--backend", backend], Some(&data));
    assert!(
        ok && table.contains("cli-ec-renamed") && table.contains("cli-rsa"),
        "{table}"
    );
    assert!(
        table.lines().next().unwrap().starts_with("id"),
        "a table for people"
    );

    // The exported public key is the imported private key's, per openssl.
    let rsa_id = imported["id"].as_str().unwrap();
    let (ok, exported, _) = run(
        &["key", "export-public", rsa_id, "--backend", backend],
        Some(&data),
    );
    assert!(ok);
    let derived = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&pem)
        .output()
        .unwrap();
    assert_eq!(
        exported.trim(),
        String::from_utf8_lossy(&derived.stdout).trim()
    );
    let (ok, jwk, _) = run(
        &[
            "key",
            "export-public",
            &id,
            "--format",
            "jwk",
            "--backend",
            backend,
        ],
        Some(&data),
    );
    assert!(ok);
    assert_eq!(json(&jwk)["kid"], generated["kid"]);
    // Mistakes: FusionAuth's Errors JSON on stderr and a failing status.
    let (ok, _, err) = run(
        &[
            "key",
            "generate",
            "--algorithm",
            "XX",
            "--name",
            "bad",
            "--backend",
            backend,
        ],
        Some(&data),
    );
    assert!(!ok && err.contains("[invalid]key.algorithm"), "{err}");
    // Bulk generation: numbered names; a failure says how many were made, and they stay.
    let bulk = |name: &str, count: &str| {
        let args = [
            "key",
            "generate",
            "--algorithm",
            "ES256",
            "--name",
            name,
            "--count",
            count,
            "--json",
            "--backend",
            backend,
        ];
        run(&args, Some(&data))
    };
    let (ok, out, err) = bulk("bulk", "3");
    assert!(ok, "{err}");
    let made = json(&out);
    let names: Vec<&str> = made["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bulk #1", "bulk #2", "bulk #3"]);
    let (ok, _, err) = bulk("bulk", "2");
    assert!(!ok && err.contains("made 0 of 2 keys"), "{err}");
    let (ok, _, err) = run(
        &[
            "key",
            "generate",
            "--algorithm",
            "ES256",
            "--name",
            "partial #2",
            "--backend",
            backend,
        ],
        Some(&data),
    );
    assert!(ok, "{err}");
    // Every name is checked before any key is made: a taken one makes nothing.
    let (ok, out, err) = bulk("partial", "3");
    assert!(
        !ok && err.contains("made 0 of 3 keys: the name \"partial #2\" is taken"),
        "{err}"
    );
    assert!(out.is_empty(), "{out}");
    let (ok, out, _) = run(
        &["key", "list", "--json", "--backend", backend],
        Some(&data),
    );
    assert!(ok && !out.contains("\"partial #1\""), "{out}");
    // Many keys: made in parallel, printed in number order, each with its audit row.
    let (ok, out, err) = bulk("many", "300");
    assert!(ok, "{err}");
    let names: Vec<String> = json(&out)["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (1..=300).map(|n| format!("many #{n}")).collect();
    assert_eq!(names, expected);
    // An offline fill gives the file's free space back, and says so.
    let sizes: Vec<u64> = err
        .lines()
        .find_map(|l| l.strip_prefix("compacted the data file: "))
        .and_then(|l| l.split_once(" bytes in "))
        .unwrap_or_else(|| panic!("{err}"))
        .0
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(
        sizes.len() == 2 && 0 < sizes[1] && sizes[1] <= sizes[0],
        "{err}"
    );
    // So does `keysmith compact`, leaving every key as it was.
    let list = || {
        let (ok, out, err) = run(
            &["key", "list", "--json", "--backend", backend],
            Some(&data),
        );
        assert!(ok, "{err}");
        out
    };
    let before = list();
    let (ok, out, err) = run(&["compact", "--backend", backend], Some(&data));
    assert!(ok && out.starts_with("compacted "), "{out}{err}");
    assert_eq!(list(), before);
    // `--no-compact` leaves the file as the fill left it, and says nothing about compacting.
    let args = [
        "key",
        "generate",
        "--algorithm",
        "ES256",
        "--name",
        "uncompacted",
        "--count",
        "2",
        "--json",
        "--no-compact",
        "--backend",
        backend,
    ];
    let (ok, out, err) = run(&args, Some(&data));
    assert!(ok && !err.contains("compacted"), "{err}");
    assert_eq!(json(&out)["keys"].as_array().unwrap().len(), 2, "{out}");
    assert!(list().contains("\"uncompacted #2\""));

    // Online: the server sees what was done offline, and the same commands work over HTTP.
    let server = Server::start_in(&data, backend, options);
    let url = format!("http://{}", server.addr);
    let online = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--url", &url, "--api-key", API_KEY]);
        run(&all, None)
    };
    let (ok, _, err) = run(&["compact", "--backend", backend], Some(&data));
    assert!(
        !ok && err.contains("in use"),
        "a running server's file is not compacted: {err}"
    );
    let (ok, out, err) = online(&["key", "list", "--json"]);
    assert!(ok, "{err}");
    let names: Vec<String> = json(&out)["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"cli-ec-renamed".to_owned()) && names.contains(&"cli-rsa".to_owned()));
    let (ok, out, err) = online(&[
        "key",
        "generate",
        "--algorithm",
        "Ed25519",
        "--name",
        "online",
        "--json",
    ]);
    assert!(ok, "{err}");
    let online_id = json(&out)["key"]["id"].as_str().unwrap().to_owned();
    let (ok, out, err) = online(&[
        "key",
        "generate",
        "--algorithm",
        "HS256",
        "--name",
        "online-bulk",
        "--count",
        "2",
        "--json",
    ]);
    assert!(ok, "{err}");
    assert_eq!(json(&out)["keys"][1]["name"], "online-bulk #2");
    let (ok, out, _) = online(&["key", "show", &online_id, "--json"]);
    assert!(ok && json(&out)["key"]["algorithm"] == "Ed25519");
    let (ok, _, _) = online(&["key", "delete", &online_id]);
    assert!(ok);
    let (ok, _, err) = online(&["key", "show", &online_id]);
    assert!(!ok && err.contains("no such key"), "{err}");
    let (ok, _, err) = run(&["key", "list", "--url", &url, "--api-key", "wrong"], None);
    assert!(!ok && err.contains("401"), "{err}");
    // Offline deletes are in the audit trail, as the command line's.
    let (ok, _, _) = online(&["key", "delete", rsa_id]);
    assert!(ok);
    let audit = server
        .call("GET", "/api/system/audit-log/search?text=cli", None)
        .json();
    assert!(audit["total"].as_u64().unwrap() >= 303, "{audit}");
    let bulk_rows = server
        .call(
            "GET",
            "/api/system/audit-log/search?text=cli&action=key.generate&numberOfResults=1",
            None,
        )
        .json();
    assert!(bulk_rows["total"].as_u64().unwrap() >= 300, "{bulk_rows}");
}

/// `keysmith completions bash` is a script bash loads and completes commands with, and
/// `keysmith man` is a page groff renders without a warning, naming every command.
#[test]
fn completions_and_man_pages_come_from_the_command_line() {
    let (ok, script, stderr) = run(&["completions", "bash"], None);
    assert!(ok, "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keysmith.bash");
    std::fs::write(&path, &script).unwrap();
    // What bash offers after `keysmith mi<TAB>` and `keysmith key <TAB>`.
    let complete = |words: &str, current: usize| {
        let output = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source '{}' && COMP_WORDS=({words}) && COMP_CWORD={current} && \
                 COMP_LINE='{words}' && COMP_POINT=${{#COMP_LINE}} && \
                 _keysmith keysmith \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\" && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                path.display()
            ))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        complete("keysmith mi", 1),
        ["migrate", "migrate-schema"],
        "completing `keysmith mi`"
    );
    let key = complete("keysmith key ''", 2);
    for command in ["generate", "list", "export-public"] {
        assert!(key.iter().any(|c| c == command), "{command} in {key:?}");
    }
    for shell in ["zsh", "fish"] {
        let (ok, script, stderr) = run(&["completions", shell], None);
        assert!(ok && script.contains("master-key"), "{shell}: {stderr}");
    }
    let (ok, _, stderr) = run(&["completions", "tcsh"], None);
    assert!(!ok && stderr.contains("tcsh"), "{stderr}");

    let (ok, page, stderr) = run(&["man"], None);
    assert!(ok, "{stderr}");
    assert!(page.starts_with(".ie \\n(.g .ds Aq") || page.contains(".TH keysmith 1"));
    if Command::new("groff").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "groff is missing; CI installs it (scripts/install-deps.sh)"
        );
        eprintln!("SKIPPED: rendering the man page: groff is not installed");
        return;
    }
    let mut groff = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut groff.stdin.take().unwrap(), page.as_bytes()).unwrap();
    let rendered = groff.wait_with_output().unwrap();
    let (text, warnings) = (
        String::from_utf8_lossy(&rendered.stdout),
        String::from_utf8_lossy(&rendered.stderr),
    );
    assert!(
        rendered.status.success() && warnings.is_empty(),
        "{warnings}"
    );
    for command in [
        "serve",
        "master-key",
        "backup",
        "key",
        "migrate",
        "completions",
        "man",
    ] {
        assert!(
            text.contains(command),
            "keysmith(1) names {command}:\n{text}"
        );
    }
    // One page per command, in an existing directory only.
    let (ok, _, stderr) = run(&["man", "--dir", dir.path().to_str().unwrap()], None);
    assert!(ok, "{stderr}");
    for page in [
        "keysmith.1",
        "keysmith-serve.1",
        "keysmith-key.1",
        "keysmith-key-generate.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page} written");
    }
    let missing = dir.path().join("nowhere");
    let (ok, _, stderr) = run(&["man", "--dir", missing.to_str().unwrap()], None);
    assert!(!ok && stderr.contains("nowhere"), "{stderr}");
}
