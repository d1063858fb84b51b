//! Replays the committed fuzz corpus (`mq/fuzz/corpus/<target>/`, seeds and
//! every input that once found a bug) through the same checks the fuzz
//! targets run (`mq::fuzz`), so a regression fails the ordinary tests.
//! `cargo test -p mq --test fuzz_corpus -- --ignored` rewrites the seeds.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use mq::Message;
use mq::filter::MessageSelector;
use mq::protocol::{ConsumeFrom, ConsumeMode, Frame, FrameBody, SendReceipt, TxnState};
use mq::protocol::{encode_frame, kind};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "{} holds {} files",
        dir.display(),
        files.len()
    );
    files
}

fn replay(target: &str, check: fn(&[u8])) {
    for path in corpus(target) {
        let data = fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} fails its check", path.display());
    }
}

#[test]
fn the_frame_decoder_corpus_passes() {
    replay("frame_decoder", mq::fuzz::frame_decoder);
}

#[test]
fn the_log_recovery_corpus_passes() {
    replay("log_recovery", mq::fuzz::damaged_log_recovery);
}

#[test]
fn the_sql_filter_corpus_passes() {
    replay("sql_filter", mq::fuzz::sql_filter);
}

fn write_seeds(target: &str, seeds: &[(&str, Vec<u8>)]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in seeds {
        fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    }
}

fn frame(body: FrameBody) -> Vec<u8> {
    encode_frame(Frame {
        request_id: 7,
        body,
    })
    .to_vec()
}

/// One valid frame of each kind, some glued together, some cut short.
fn frame_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let m = Message::new("orders", "body")
        .with_tag("paid")
        .with_key("order-1")
        .with_property("amount", "150")
        .with_sharding_key("user-1");
    let record = Bytes::from_static(b"\x01\x01not really a record");
    let receipt = SendReceipt {
        id: "0000000000000001000000000000002A".into(),
        queue: 1,
        queue_offset: 2,
    };
    let subscribe = |selector, mode| FrameBody::Subscribe {
        group: "g".into(),
        topic: "orders".into(),
        selector,
        max_inflight: 8,
        from: ConsumeFrom::Latest,
        mode,
    };
    let seeds = vec![
        (
            "hello",
            frame(FrameBody::Hello {
                client_id: "c".into(),
                producer_group: "pg".into(),
            }),
        ),
        ("ping", frame(FrameBody::Ping)),
        (
            "send",
            frame(FrameBody::Send {
                oneway: false,
                message: m.clone(),
            }),
        ),
        (
            "send-batch",
            frame(FrameBody::SendBatch {
                messages: vec![m.clone(), Message::new("orders", "")],
            }),
        ),
        (
            "subscribe-tags",
            frame(subscribe(
                MessageSelector::Tag("a || b".into()),
                ConsumeMode::Orderly,
            )),
        ),
        (
            "subscribe-sql",
            frame(subscribe(
                MessageSelector::Sql92("a > 5 AND b IN ('x')".into()),
                ConsumeMode::Broadcast {
                    instance: "i1".into(),
                },
            )),
        ),
        (
            "unsubscribe",
            frame(FrameBody::Unsubscribe { subscription: 1 }),
        ),
        (
            "ack",
            frame(FrameBody::Ack {
                subscription: 1,
                queue: 2,
                queue_offset: 3,
            }),
        ),
        (
            "later",
            frame(FrameBody::Later {
                subscription: 1,
                queue: 2,
                queue_offset: 3,
            }),
        ),
        (
            "release",
            frame(FrameBody::Release {
                subscription: 1,
                queue: 2,
                queue_offset: 3,
            }),
        ),
        (
            "lookup-id",
            frame(FrameBody::LookupId {
                id: receipt.id.clone(),
            }),
        ),
        (
            "lookup-key",
            frame(FrameBody::LookupKey {
                topic: "orders".into(),
                key: "order-1".into(),
            }),
        ),
        (
            "send-half",
            frame(FrameBody::SendHalf {
                producer_group: "pg".into(),
                message: m.clone(),
            }),
        ),
        (
            "end-txn",
            frame(FrameBody::EndTxn {
                id: receipt.id.clone(),
                producer_group: "pg".into(),
                state: TxnState::Commit,
                from_check: true,
            }),
        ),
        ("done", frame(FrameBody::Done)),
        ("pong", frame(FrameBody::Pong)),
        ("send-ok", frame(FrameBody::SendOk(receipt.clone()))),
        (
            "send-batch-ok",
            frame(FrameBody::SendBatchOk(vec![receipt.clone(), receipt])),
        ),
        (
            "subscribed",
            frame(FrameBody::Subscribed { subscription: 3 }),
        ),
        (
            "deliver",
            frame(FrameBody::Deliver {
                subscription: 1,
                queue: 0,
                queue_offset: 0,
                instance: 1,
                log_offset: 0,
                record: record.clone(),
            }),
        ),
        (
            "check-txn",
            frame(FrameBody::CheckTxn {
                instance: 1,
                log_offset: 5,
                record: record.clone(),
            }),
        ),
        (
            "messages",
            frame(FrameBody::Messages(vec![
                (1, 0, record.clone()),
                (1, 9, record),
            ])),
        ),
        (
            "error",
            frame(FrameBody::Error {
                code: mq::ErrorCode::InvalidRequest,
                message: "bad".into(),
            }),
        ),
    ];
    let mut all: Vec<(&'static str, Vec<u8>)> = seeds.clone();
    all.push((
        "ping-ping-ack",
        [&seeds[1].1[..], &seeds[1].1, &seeds[7].1].concat(),
    ));
    let mut cut = seeds[2].1.clone();
    cut.truncate(cut.len() - 3);
    all.push(("send-cut-short", cut));
    let mut unknown = seeds[1].1.clone();
    unknown[4] = 0x7E;
    all.push(("unknown-kind", [&unknown[..], &seeds[1].1].concat()));
    all.push(("oversized-length", vec![0x7F, 0xFF, 0xFF, 0xFF, kind::PING]));
    all
}

fn sql_seeds() -> Vec<(&'static str, Vec<u8>)> {
    [
        ("and-or", "a > 5 AND b = 'x' OR c <= 2\na=6\nb=x"),
        ("between", "a BETWEEN 2 AND 10\na=3"),
        ("not-between", "a NOT BETWEEN -1.5 AND 2e3\na=abc"),
        ("in", "region IN ('eu', 'us', 'it''s')\nregion=eu"),
        ("not-in", "region NOT IN ('eu')\nregion=us"),
        ("is-null", "a IS NULL OR b IS NOT NULL\nb="),
        ("not-paren", "NOT (a = 1 AND (b <> 'y' OR TRUE))\na=1\nb=y"),
        (
            "booleans",
            "flag = TRUE AND other = FALSE\nflag=true\nother=FALSE",
        ),
        ("literals", "1 < 2 AND 'a' = 'a' AND TRUE = TRUE"),
        ("props", "a >= b AND b < c\na=3\nb=2\nc=2.5"),
        (
            "tags",
            "TAGS IN ('paid') AND amount > 100\nTAGS=paid\namount=150",
        ),
        ("bad-type", "a > 'x'"),
        ("bad-null", "a = NULL"),
        ("bad-reversed", "a BETWEEN 10 AND 2"),
        ("bad-open", "(a = 1"),
        ("bad-string", "a = 'open"),
        ("bad-number", "a = 1.2.3e"),
        ("deep", "((((((((((a = 1))))))))))\na=1"),
        ("unicode", "city = 'Zürich'\ncity=Zürich"),
        ("empty", ""),
    ]
    .iter()
    .map(|(n, s)| (*n, s.as_bytes().to_vec()))
    .collect()
}

/// Damage operations (see `mq::fuzz::damaged_log_recovery`): flags, then
/// `file, mode, u32 position, n, n bytes`. Files in the template, sorted:
/// 0-4 index/*.sum, 5-10 log/*.seg (10 is the active one), 11 meta.json.
fn recovery_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let op = |file: u8, mode: u8, pos: u32, bytes: &[u8]| {
        let mut v = vec![file, mode];
        v.extend_from_slice(&pos.to_be_bytes());
        v.push(bytes.len() as u8);
        v.extend_from_slice(bytes);
        v
    };
    let seeds: Vec<(&'static str, Vec<u8>)> = vec![
        ("none", vec![0]),
        (
            "overwrite-first-segment",
            [vec![0], op(5, 0, 100, b"garbage")].concat(),
        ),
        (
            "overwrite-last-segment",
            [vec![0], op(10, 0, 60, b"\xFF\xFF")].concat(),
        ),
        (
            "truncate-last-segment",
            [vec![0], op(10, 1, 150, b"")].concat(),
        ),
        (
            "truncate-sealed-segment",
            [vec![0], op(6, 1, 300, b"")].concat(),
        ),
        (
            "append-to-last",
            [vec![0], op(10, 2, 0, b"\x00\x00\x00\x10tail")].concat(),
        ),
        (
            "xor-length-field",
            [vec![0], op(7, 3, 0, b"\x00\x00\x01")].concat(),
        ),
        (
            "insert-bytes",
            [vec![0], op(8, 4, 40, b"\x01\x02\x03")].concat(),
        ),
        ("remove-segment", [vec![0], op(6, 5, 0, b"")].concat()),
        ("remove-summary", [vec![0], op(0, 5, 0, b"")].concat()),
        (
            "damage-summary",
            [vec![0], op(1, 0, 30, b"\xAA\xBB")].concat(),
        ),
        ("damage-meta", [vec![0], op(11, 0, 3, b"x")].concat()),
        (
            "cut-after-damage",
            [vec![1], op(10, 0, 20, b"\x00\x00\x00\x00\x00")].concat(),
        ),
        (
            "two-damages",
            [vec![0], op(7, 0, 10, b"z"), op(10, 1, 500, b"")].concat(),
        ),
    ];
    seeds
}

#[test]
#[ignore = "writes the seed corpus into mq/fuzz/corpus"]
fn write_seed_corpus() {
    write_seeds("frame_decoder", &frame_seeds());
    write_seeds("sql_filter", &sql_seeds());
    write_seeds("log_recovery", &recovery_seeds());
}
