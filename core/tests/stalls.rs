//! Nothing stalls: work one send must do (preparing a large message, reading its files) does not
//! hold up the other tasks on the runtime's worker threads. (The SCRAM key derivation's case
//! is in `auth_rules.rs`.) Every wait is bounded.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // a failed unwrap is a failed test

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use relaykit::{Attachment, Keyring, Message, Profile, RrtContext, SendOptions};

#[test]
fn preparing_a_large_message_does_not_hold_up_the_other_tasks_of_its_worker() {
    // One worker thread: without `block_in_place` the ticker could not run while the message
    // is being encoded.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    rt.block_on(async {
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let ticker = tokio::spawn(async move {
            let mut worst = Duration::ZERO;
            let mut last = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(1)).await; // the ticker's beat, not synchronisation
                worst = worst.max(last.elapsed());
                last = Instant::now();
            }
            worst
        });
        // A closed port: the send fails at connect, after preparing the message.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let profile =
            Profile::from_json_value(&serde_json::json!({"server": "127.0.0.1", "port": port, "timeout_secs": 5}))
                .unwrap();
        let mut m =
            Message { from: "a@relaykit.test".into(), to: vec!["b@relaykit.test".into()], ..Message::default() };
        m.text = Some("see the attachment".into());
        m.attachments.push(Attachment::from_bytes("big.bin", "application/octet-stream", vec![0xA5; 24 << 20]));
        let sending = tokio::spawn(async move {
            let start = Instant::now();
            let r =
                relaykit::send_async(&profile, &Keyring::new(), &RrtContext::new(), &m, &SendOptions::default()).await;
            (r, start.elapsed())
        });
        let (r, took) = tokio::time::timeout(Duration::from_secs(60), sending).await.unwrap().unwrap();
        done.store(true, Ordering::Relaxed);
        let worst = tokio::time::timeout(Duration::from_secs(10), ticker).await.unwrap().unwrap();
        assert_eq!(r.unwrap_err().kind(), relaykit::ErrorKind::Connect);
        assert!(took > Duration::from_millis(100), "preparing 24 MiB took only {took:?}: the test proves nothing");
        assert!(worst < took / 2, "the ticker was held up for {worst:?} while the send took {took:?}");
    });
}

#[test]
fn a_blocking_send_of_a_large_message_prepares_it_on_the_calling_thread() {
    // `relaykit::send` runs the future on the caller's thread (`Runtime::block_on`), where
    // `block_in_place` must not be needed nor panic.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let profile =
        Profile::from_json_value(&serde_json::json!({"server": "127.0.0.1", "port": port, "timeout_secs": 5})).unwrap();
    let mut m = Message { from: "a@relaykit.test".into(), to: vec!["b@relaykit.test".into()], ..Message::default() };
    m.attachments.push(Attachment::from_bytes("big.bin", "application/octet-stream", vec![0x5A; 1 << 20]));
    let e = relaykit::send(&profile, &Keyring::new(), &RrtContext::new(), &m, &SendOptions::default()).unwrap_err();
    assert_eq!(e.kind(), relaykit::ErrorKind::Connect);
}
