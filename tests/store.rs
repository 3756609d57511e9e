//! The store's `Tx` where the API cannot reach it, on both stores: documents read ahead
//! (`prefetch`) read as the command left them, whatever it changed, sent or undid since;
//! timers written together come due in the order they were given.

mod common;

use common::TestApp;
use sluice::store::{Cursor, Document, ListQuery, Scope, StoreError, Timer, Tx};

fn document(id: &str, platform: &str, body: &str) -> Document {
    Document {
        id: id.to_string(),
        object: "customer",
        platform: platform.to_string(),
        account: platform.to_string(),
        livemode: false,
        created: 1_700_000_000,
        parent: None,
        deleted: false,
        body: body.to_string(),
    }
}

fn body_of(tx: &mut dyn Tx, id: &str, lock: bool) -> Result<Option<String>, StoreError> {
    let doc = if lock {
        tx.get_for_update(id)?
    } else {
        tx.get(id)?
    };
    Ok(doc.map(|doc| doc.body))
}

/// A list sends what the command has waiting before it reads (both stores).
fn send_waiting(tx: &mut dyn Tx) -> Result<(), StoreError> {
    let nobody = Scope {
        platform: "acct_nobody".into(),
        account: "acct_nobody".into(),
        livemode: false,
    };
    tx.list(&ListQuery {
        objects: &["customer"],
        scope: &nobody,
        parent: None,
        created: Default::default(),
        filters: &[],
        cursor: Cursor::First,
        limit: 1,
    })?;
    Ok(())
}

async fn prefetched_documents_read_as_the_command_left_them(app: TestApp) {
    let store = app.store.clone().expect("the store");
    let platform = app.platform.clone();
    store
        .write(move |tx| -> Result<(), StoreError> {
            tx.insert(document("cus_prefetch_a", &platform, r#"{"v":0}"#))?;
            tx.insert(document("cus_prefetch_b", &platform, r#"{"v":0}"#))
        })
        .await
        .expect("write the documents");
    store
        .write(move |tx| -> Result<(), StoreError> {
            let (a, b) = ("cus_prefetch_a", "cus_prefetch_b");
            tx.prefetch(&[a, b, "cus_prefetch_missing", a], true)?;
            assert_eq!(body_of(tx, a, true)?.as_deref(), Some(r#"{"v":0}"#));
            assert_eq!(body_of(tx, "cus_prefetch_missing", true)?, None);
            // A change not yet sent...
            tx.update(a, r#"{"v":1}"#, false)?;
            assert_eq!(body_of(tx, a, false)?.as_deref(), Some(r#"{"v":1}"#));
            // ...and once sent.
            send_waiting(tx)?;
            assert_eq!(body_of(tx, a, true)?.as_deref(), Some(r#"{"v":1}"#));
            // A command that changes a document and is undone leaves it as it was.
            tx.begin_command()?;
            tx.update(b, r#"{"v":2}"#, false)?;
            send_waiting(tx)?;
            tx.end_command(false)?;
            assert_eq!(body_of(tx, b, true)?.as_deref(), Some(r#"{"v":0}"#));
            // Read ahead without a lock, then read to change: still the stored one.
            tx.prefetch(&[b], false)?;
            assert_eq!(body_of(tx, b, true)?.as_deref(), Some(r#"{"v":0}"#));
            Ok(())
        })
        .await
        .expect("read ahead");
    let (a, b) = store
        .read(|tx| -> Result<_, StoreError> {
            Ok((
                body_of(tx, "cus_prefetch_a", false)?,
                body_of(tx, "cus_prefetch_b", false)?,
            ))
        })
        .await
        .expect("read back");
    assert_eq!(a.as_deref(), Some(r#"{"v":1}"#));
    assert_eq!(b.as_deref(), Some(r#"{"v":0}"#));
}

async fn timers_written_together_come_due_in_order(app: TestApp) {
    let store = app.store.clone().expect("the store");
    let platform = app.platform.clone();
    let timer = |due_at: i64, target: &str| Timer {
        id: 0,
        platform: platform.clone(),
        livemode: false,
        due_at,
        kind: "payout.settle".into(),
        target: target.into(),
    };
    let timers = vec![
        timer(300, "po_c"),
        timer(100, "po_a"),
        timer(300, "po_d"),
        timer(200, "po_b"),
        timer(900, "po_later"),
    ];
    store
        .write(move |tx| -> Result<(), StoreError> {
            tx.timers_add(&[])?;
            tx.timers_add(&timers)
        })
        .await
        .expect("add the timers");
    let platform = app.platform.clone();
    let due = store
        .write(move |tx| tx.timers_due(&platform, false, 300, 10))
        .await
        .expect("timers due");
    let targets: Vec<&str> = due.iter().map(|timer| timer.target.as_str()).collect();
    assert_eq!(targets, ["po_a", "po_b", "po_c", "po_d"]);
    assert!(due.iter().all(|timer| timer.kind == "payout.settle"));
}

store_tests!(
    prefetched_documents_read_as_the_command_left_them,
    timers_written_together_come_due_in_order
);
