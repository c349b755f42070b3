//! Durable key inserts per second into a real data file, by the number of concurrent writers:
//! how far group commit carries the store alone (no HTTP, no key generation: HMAC records made
//! before the clock starts).
//!
//! `cargo run --release -p keysmith-benches --bin commits -- [keys per writer] [writers...]`
//! (default 2000 keys, writers 1 8 64). The data file is in the system's temporary directory:
//! run it on the disk that will hold the data.

use std::sync::Arc;
use std::time::Instant;

use keysmith_crypto::KeyBackend;
use keysmith_crypto::envelope::{Envelope, MasterKey};
use keysmith_model::{Algorithm, Key, KeyId, PrivateMaterial, SecretBytes};
use keysmith_store::prelude::*;
use keysmith_store::{RedbStore, StoredKey};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let per_writer = args.first().copied().unwrap_or(2000);
    let writers = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        vec![1, 8, 64]
    };
    let backend: Arc<dyn KeyBackend> = Arc::new(keysmith_crypto_aws_lc::AwsLcBackend::new());
    println!("| writers | keys | keys/s | commits | changes per commit |");
    println!("|---:|---:|---:|---:|---:|");
    for n in writers {
        let dir = tempfile::tempdir()?;
        let master = MasterKey::generate(&*backend)?.0;
        let sealer = Arc::new(Envelope::new(backend.clone(), vec![master])?);
        let cache = std::env::var("CACHE_MB")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(16)
            << 20;
        let store = Arc::new(RedbStore::open_with_cache(
            &dir.path().join("keysmith.redb"),
            sealer,
            cache,
        )?);
        let records: Vec<Vec<StoredKey>> = (0..n)
            .map(|w| {
                (0..per_writer)
                    .map(|i| record(&format!("w{w}-{i}")))
                    .collect()
            })
            .collect();
        let before = store.commit_stats();
        let started = Instant::now();
        let threads: Vec<_> = records
            .into_iter()
            .map(|mine| {
                let store = store.clone();
                std::thread::spawn(move || mine.iter().try_for_each(|r| store.insert(r)))
            })
            .collect();
        for thread in threads {
            thread.join().map_err(|_| "a writer panicked")??;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let stats = store.commit_stats();
        let (commits, changes) = (
            stats.commits - before.commits,
            stats.changes - before.changes,
        );
        println!(
            "| {n} | {changes} | {:.0} | {commits} | {:.1} |",
            changes as f64 / elapsed,
            changes as f64 / commits.max(1) as f64
        );
    }
    Ok(())
}

fn record(name: &str) -> StoredKey {
    let mut key = Key::new(KeyId::random(), Algorithm::HS256, name.into(), 1);
    key.kid = name.into();
    StoredKey {
        key,
        private: Some(PrivateMaterial::HmacSecret(SecretBytes::new(vec![7; 32]))),
    }
}
