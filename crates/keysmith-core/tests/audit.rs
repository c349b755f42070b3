//! The audit trail on a real temporary store: changes carry their record in their own
//! transaction, uses are summed up (or not, as configured), the queue is bounded and counts
//! what it drops, and retention is enforced by the writer.

// Test helpers: a failed step must fail the test.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use keysmith_core::audit::{AuditSettings, AuditTrail, UseAudit};
use keysmith_core::{GenerateRequest, KeyService, ServiceConfig};
use keysmith_model::{AuditQuery, AuditRecord};
use keysmith_store::{AuditContext, KeyStore, RedbStore, with_audit_context};

fn store() -> (tempfile::TempDir, Arc<dyn KeyStore>) {
    let backend: Arc<dyn keysmith_crypto::KeyBackend> =
        Arc::new(keysmith_crypto_aws_lc::AwsLcBackend::new());
    let key = keysmith_crypto::envelope::MasterKey::from_bytes(&*backend, &[7u8; 32]).unwrap();
    let sealer = Arc::new(keysmith_crypto::envelope::Envelope::new(backend, vec![key]).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("keysmith.redb"), sealer).unwrap();
    (dir, Arc::new(store))
}

fn records(store: &dyn KeyStore) -> Vec<AuditRecord> {
    store
        .search_audit(&AuditQuery {
            number_of_results: 1_000,
            ..AuditQuery::default()
        })
        .unwrap()
        .0
}

fn settings(uses: UseAudit) -> AuditSettings {
    AuditSettings {
        uses,
        ..AuditSettings::default()
    }
}

#[test]
fn a_generated_key_and_its_record_commit_together_and_a_refusal_writes_neither() {
    let (_dir, store) = store();
    let backend: Arc<dyn keysmith_crypto::KeyBackend> =
        Arc::new(keysmith_crypto_aws_lc::AwsLcBackend::new());
    let service = KeyService::new(backend, store.clone(), ServiceConfig::default());
    let context = AuditContext {
        actor: "api-key:ci".into(),
        action: "key.generate".into(),
        request_id: Some("r-1".into()),
    };
    let request = GenerateRequest {
        algorithm: Some("ES256"),
        name: Some("audited"),
        ..GenerateRequest::default()
    };
    let (key, rows) =
        with_audit_context(context.clone(), || service.keys().generate(None, &request));
    let key = key.unwrap();
    assert_eq!(rows, 1);
    let trail = records(&*store);
    assert_eq!(trail.len(), 1);
    assert_eq!(
        (
            trail[0].actor.as_str(),
            trail[0].action.as_str(),
            trail[0].target.as_str(),
            trail[0].result.as_str(),
            trail[0].request_id.as_deref(),
        ),
        (
            "api-key:ci",
            "key.generate",
            key.id.to_string().as_str(),
            "ok",
            Some("r-1")
        )
    );
    // The same name again is refused: no key, no record.
    let (refused, rows) = with_audit_context(context, || service.keys().generate(None, &request));
    assert!(refused.is_err());
    assert_eq!(rows, 0);
    assert_eq!(store.count().unwrap(), 1);
    assert_eq!(records(&*store).len(), 1);

    // A scheduled change records the scheduler as its actor.
    assert!(store.delete_restorably(&key.id, 0).unwrap());
    let purged =
        keysmith_core::audit::scheduled("key.purge", || store.purge_deleted(i64::MAX).unwrap());
    assert_eq!(purged, vec![key.id]);
    let newest = &records(&*store)[0];
    assert_eq!(
        (
            newest.actor.as_str(),
            newest.action.as_str(),
            newest.target.clone()
        ),
        ("scheduler", "key.purge", key.id.to_string())
    );
}

#[test]
fn uses_are_summed_up_per_key_action_and_result() {
    let (_dir, store) = store();
    let trail = AuditTrail::with_settings(store.clone(), settings(UseAudit::Aggregate));
    for i in 0..1_000 {
        let caller = if i % 2 == 0 { "api-key:a" } else { "api-key:b" };
        trail.record_use("jwt.vend", "key-1", caller, "200", Some(format!("r{i}")));
    }
    for _ in 0..5 {
        trail.record_use("key.sign", "key-2", "api-key:c", "200", None);
    }
    for i in 0..40 {
        trail.record_use("jwt.vend", "key-1", &format!("api-key:{i}"), "404", None);
    }
    trail.close();
    let trail = records(&*store);
    assert_eq!(trail.len(), 3, "{trail:?}");
    let find = |action: &str, result: &str| {
        trail
            .iter()
            .find(|r| r.action == action && r.result == result)
            .unwrap()
    };
    let vends = find("jwt.vend", "200");
    let uses = vends.uses.as_ref().unwrap();
    assert_eq!(uses.count, 1_000);
    assert_eq!(uses.callers, vec!["api-key:a", "api-key:b"]);
    assert!(!uses.more_callers && uses.first <= uses.last && vends.at == uses.first);
    assert_eq!(vends.target, "key-1");
    assert_eq!(find("key.sign", "200").uses.as_ref().unwrap().count, 5);
    let refused = find("jwt.vend", "404").uses.as_ref().unwrap();
    assert_eq!(refused.count, 40);
    assert_eq!(refused.callers.len(), keysmith_core::audit::MAX_CALLERS);
    assert!(refused.more_callers);
}

#[test]
fn each_records_every_use_and_off_none() {
    let (_dir, store) = store();
    let trail = AuditTrail::with_settings(store.clone(), settings(UseAudit::Each));
    for i in 0..3 {
        trail.record_use(
            "key.sign",
            "key-1",
            "api-key:a",
            "200",
            Some(format!("r{i}")),
        );
    }
    trail.close();
    let each = records(&*store);
    assert_eq!(each.len(), 3);
    assert!(
        each.iter()
            .all(|r| r.uses.is_none() && r.request_id.is_some())
    );

    let (_dir, store) = self::store();
    let trail = AuditTrail::with_settings(store.clone(), settings(UseAudit::Off));
    trail.record_use("key.sign", "key-1", "api-key:a", "200", None);
    trail.close();
    assert!(records(&*store).is_empty());
}

#[test]
fn the_writer_enforces_retention_by_age_and_count() {
    let (_dir, store) = store();
    let now = keysmith_model::epoch_millis_now();
    let day = 86_400_000;
    let old: Vec<AuditRecord> = (0..30)
        .map(|i| AuditRecord {
            id: 0,
            at: if i < 10 { now - 10 * day - i } else { now - i },
            actor: "cli".into(),
            action: "key.generate".into(),
            target: format!("t{i}"),
            result: "ok".into(),
            request_id: None,
            uses: None,
        })
        .collect();
    store.append_audit(&old).unwrap();
    let trail = AuditTrail::with_settings(
        store.clone(),
        AuditSettings {
            retention_days: 7,
            max_records: 15,
            ..AuditSettings::default()
        },
    );
    // Enforced when the writer starts, then every minute: wait for it with a deadline.
    let deadline = Instant::now() + Duration::from_secs(10);
    while records(&*store).len() != 15 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    trail.close();
    let left = records(&*store);
    assert_eq!(left.len(), 15);
    let targets: Vec<String> = left.iter().map(|r| r.target.clone()).collect();
    let newest: Vec<String> = (10..25).map(|i| format!("t{i}")).collect();
    assert_eq!(targets, newest, "the newest 15 within 7 days are kept");
}
