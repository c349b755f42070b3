//! Starting the binary: the first start's API key, configuration layers and refusals, and a
//! data file of an unknown schema.

use serde_json::json;

use crate::generate;
use crate::support::{self, API_KEY, Options, Server};

#[test]
fn first_start_generates_an_api_key_and_keeps_only_its_hash() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::start_in(&data, support::backends()[0], Options::default());
    let log = server.log();
    let key = log
        .lines()
        .skip_while(|l| !l.contains("shown only this once"))
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.contains("shown only this once"))
        .expect("the generated key is printed")
        .to_owned();
    let response = server.raw("GET", "/api/key", &[("Authorization", &key)], None);
    assert_eq!(response.status, 200);
    assert!(server.stop().0.success());
    let file = std::fs::read(data.join("keysmith.redb")).unwrap();
    assert!(
        !file.windows(key.len()).any(|w| w == key.as_bytes()),
        "the API key itself is not stored"
    );
    // A second start does not generate another: the stored hash is enough.
    let server = Server::start_in(&data, support::backends()[0], Options::default());
    assert!(!server.log().contains("shown only this once"));
    assert_eq!(
        server
            .raw("GET", "/api/key", &[("Authorization", &key)], None)
            .status,
        200
    );
}

#[test]
fn configuration_layers_and_refusals() {
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("keysmith.toml");
    std::fs::write(
        &config,
        "default_issuer = \"from-file.example\"\nmax_search_results = 7\n",
    )
    .unwrap();
    let options = Options {
        api_key: Some(API_KEY.into()),
        args: vec!["--config".into(), config.display().to_string()],
        env: vec![("KEYSMITH_MAX_SEARCH_RESULTS".into(), "5".into())],
    };
    let server = Server::start_in(&temp.path().join("data"), support::backends()[0], options);
    let key = generate(&server, json!({"algorithm": "ES256", "name": "k"}));
    assert_eq!(
        key["issuer"], "from-file.example",
        "the file overrides the defaults"
    );
    let response = server.call(
        "POST",
        "/api/key/search",
        Some(json!({"search": {"numberOfResults": 6}})),
    );
    assert_eq!(
        response.error_codes(),
        ["[invalid]search.numberOfResults"],
        "the environment overrides the file"
    );
    drop(server);

    std::fs::write(&config, "no_such_setting = 1\n").unwrap();
    let options = Options {
        api_key: Some(API_KEY.into()),
        args: vec!["--config".into(), config.display().to_string()],
        ..Default::default()
    };
    let (status, log) =
        Server::try_start_in(&temp.path().join("data2"), support::backends()[0], options)
            .err()
            .expect("refused");
    assert_eq!(status.and_then(|s| s.code()), Some(2));
    assert!(log.contains("no_such_setting"), "{log}");
    let options = Options {
        api_key: Some(API_KEY.into()),
        ..Default::default()
    };
    let (status, log) = Server::try_start_in(&temp.path().join("data3"), "ring", options)
        .err()
        .expect("refused");
    assert!(!status.unwrap().success());
    assert!(log.contains("`ring` is not available"), "{log}");
}

#[test]
fn a_data_file_of_an_unknown_schema_is_refused_untouched() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let file = data.join("keysmith.redb");
    {
        let db = redb::Database::create(&file).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(redb::TableDefinition::<&str, u64>::new("meta"))
            .unwrap()
            .insert("schema_version", 99)
            .unwrap();
        txn.commit().unwrap();
    }
    // A start on `data` is refused with a message that names the file; returns the log.
    let refused = || {
        let options = Options {
            api_key: Some(API_KEY.into()),
            ..Default::default()
        };
        let (status, log) = Server::try_start_in(&data, support::backends()[0], options)
            .err()
            .expect("refused");
        assert!(!status.unwrap().success());
        assert!(
            log.contains(&format!("data file {}", file.display())),
            "{log}"
        );
        log
    };
    let before = std::fs::read(&file).unwrap();
    let log = refused();
    assert!(log.contains("schema version 99"), "{log}");
    assert_eq!(std::fs::read(&file).unwrap(), before);

    // Not a redb file at all: refused, named, untouched.
    std::fs::write(&file, b"not a database").unwrap();
    refused();
    assert_eq!(std::fs::read(&file).unwrap(), b"not a database");
}

/// `serve`'s allocator settings (`crates/keysmith/src/malloc.rs`): glibc's arenas capped at four
/// per core unless the environment sets `MALLOC_ARENA_MAX`, and a thread that hands their free
/// memory back every 30 s.
#[test]
fn serve_caps_the_malloc_arenas_and_starts_their_trim() {
    let server = Server::start("aws-lc");
    let log = server.log();
    let expected = if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        "malloc_arena_max=None".to_owned()
    } else {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        format!("malloc_arena_max=Some({})", cores * 4)
    };
    assert!(log.contains(&expected), "no {expected}:\n{log}");
    assert!(log.contains("malloc_trim=true"), "{log}");
    // Linux keeps a thread's name to 15 bytes: "keysmith-malloc-trim" reads "keysmith-malloc".
    let tasks = std::fs::read_dir(format!("/proc/{}/task", server.pid())).unwrap();
    let names: Vec<String> = tasks
        .map(|task| std::fs::read_to_string(task.unwrap().path().join("comm")).unwrap())
        .collect();
    assert!(
        names.iter().any(|name| name.trim() == "keysmith-malloc"),
        "no trim thread among {names:?}"
    );
}
