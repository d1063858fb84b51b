//! Bounded answers and refused requests: look-ups by key and id, batches,
//! delays that overflow.

mod common;

use std::time::Duration;

use bytes::BufMut;
use common::{admin_get, collect, start_broker};
use mq::message::{RecordHeader, encode_record};
use mq::{ConsumerConfig, ErrorCode, Message, Producer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_look_up_by_key_answers_the_newest_thousand_at_most() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();
    for chunk in 0..11 {
        let batch = (0..100)
            .map(|i| Message::new("keyed", format!("{}", chunk * 100 + i)).with_key("hot"))
            .collect();
        producer.send_batch(batch).await.unwrap();
    }

    let found = producer.lookup_key("keyed", "hot").await.unwrap();

    assert_eq!(found.len(), 1000);
    assert_eq!(found[0].body_text(), "100", "not the newest, oldest first");
    assert_eq!(found[999].body_text(), "1099");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_pointing_into_a_body_finds_no_record_even_if_the_body_holds_one() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();
    // A body that is itself a valid record (length, checksum, payload).
    let fake = encode_record(
        &RecordHeader {
            queue: 0,
            attempt: 1,
            origin_offset: None,
            deliver_at_ms: 0,
        },
        "victim",
        &Message::new("victim", "forged"),
    );
    let mut body = bytes::BytesMut::new();
    body.put_u32(fake.len() as u32);
    body.put_u32(crc32c::crc32c(&fake));
    body.put_slice(&fake);
    let body = body.freeze();
    let m = Message::new("victim", body.clone());
    let receipt = producer.send(m.clone()).await.unwrap();
    // Where the body starts inside the stored record.
    let mut sent = m.clone();
    sent.born_at_ms = 1;
    let record_len = encode_record(
        &RecordHeader {
            queue: 0,
            attempt: 1,
            origin_offset: None,
            deliver_at_ms: 0,
        },
        "victim",
        &sent,
    )
    .len();
    let id: mq::MessageId = receipt.id.parse().unwrap();
    let inside = mq::MessageId {
        offset: id.offset + 8 + (record_len - body.len()) as u64,
        ..id
    };

    let found = producer.lookup_id(&inside.to_string()).await.unwrap();

    assert!(found.is_none(), "a forged record was found: {found:?}");
    assert!(producer.lookup_id(&receipt.id).await.unwrap().is_some());
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_too_large_to_acknowledge_is_refused_before_it_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();
    let batch: Vec<Message> = (0..70_000).map(|_| Message::new("tiny", "x")).collect();

    let answer = tokio::time::timeout(Duration::from_secs(30), producer.send_batch(batch))
        .await
        .expect("an answer");

    let Err(err) = answer else {
        panic!("a batch of 70,000 was stored and acknowledged");
    };

    assert_eq!(err.code(), ErrorCode::InvalidRequest, "{err}");
    assert!(err.to_string().contains("65536"), "{err}");
    let topics = common::admin_get(&broker.admin_addr.to_string(), "/topics").await;
    let stored = topics["topics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["topic"] == "tiny" && t["messages"] != 0);
    assert!(!stored, "the refused batch was stored");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_that_overflows_the_clock_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();
    let m = Message::new("late", "x").with_property("MQ_DELAY_MS", u64::MAX.to_string());

    let answer = tokio::time::timeout(Duration::from_secs(5), producer.send(m))
        .await
        .expect("an answer, not a crashed request");

    let err = answer.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidRequest, "{err}");
    producer.send(Message::new("late", "fine")).await.unwrap();
    broker.shutdown().await;
}

/// Look-up by key is paged: the client and the admin API walk every message
/// of a hot key, newest page first, each page within one frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_look_up_by_key_pages_through_every_message() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();
    for chunk in 0..25 {
        let batch = (0..100)
            .map(|i| Message::new("keyed", format!("{}", chunk * 100 + i)).with_key("hot"))
            .collect();
        producer.send_batch(batch).await.unwrap();
    }

    // The client, 1000 at a time.
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = producer
            .lookup_key_page("keyed", "hot", before, 1000)
            .await
            .unwrap();
        pages.push(page.messages.len());
        let mut bodies: Vec<u32> = page
            .messages
            .iter()
            .map(|m| m.body_text().parse().unwrap())
            .collect();
        bodies.reverse();
        before = page.next_before;
        if pages.len() == 1 {
            assert_eq!(bodies.first(), Some(&2499), "the first page is the newest");
        }
        if before.is_none() {
            assert_eq!(bodies.last(), Some(&0), "the last page ends at the oldest");
            break;
        }
        assert!(pages.len() < 10, "pages never end");
    }
    assert_eq!(pages, vec![1000, 1000, 500]);

    // The admin API, 700 at a time, following x-next-before.
    let admin = broker.admin_addr.to_string();
    let mut seen = Vec::new();
    let mut url = format!("http://{admin}/messages?topic=keyed&key=hot&limit=700");
    loop {
        let r = reqwest::get(&url).await.unwrap();
        assert_eq!(r.status(), 200);
        let next = r
            .headers()
            .get("x-next-before")
            .map(|v| v.to_str().unwrap().to_string());
        let page: Vec<serde_json::Value> = r.json().await.unwrap();
        assert!(page.len() <= 700);
        let mut bodies: Vec<u32> = page
            .iter()
            .map(|m| m["body"].as_str().unwrap().parse().unwrap())
            .collect();
        bodies.reverse();
        seen.extend(bodies);
        match next {
            Some(b) => {
                url = format!("http://{admin}/messages?topic=keyed&key=hot&limit=700&before={b}")
            }
            None => break,
        }
    }
    let expected: Vec<u32> = (0..2500).rev().collect();
    assert_eq!(seen, expected);
    let bad = reqwest::get(format!(
        "http://{admin}/messages?topic=keyed&key=hot&limit=0"
    ))
    .await
    .unwrap();
    assert_eq!(bad.status(), 400);
    broker.shutdown().await;
}

/// A page holds what fits one frame: three 3 MiB messages take two pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_large_messages_stays_within_one_frame() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();
    for i in 0..3u8 {
        let body = vec![b'a' + i; 3 << 20];
        producer
            .send(Message::new("large", body).with_key("big"))
            .await
            .unwrap();
    }

    let first = producer
        .lookup_key_page("large", "big", None, 1000)
        .await
        .unwrap();
    let second = producer
        .lookup_key_page("large", "big", first.next_before, 1000)
        .await
        .unwrap();

    let firsts =
        |p: &mq::client::KeyPage| -> Vec<u8> { p.messages.iter().map(|m| m.body[0]).collect() };
    assert_eq!(firsts(&first), vec![b'b', b'c']);
    assert_eq!(firsts(&second), vec![b'a']);
    assert_eq!(second.next_before, None);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_and_groups_are_listed_a_page_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let addr = broker.addr.to_string();
    let admin = broker.admin_addr.to_string();
    let producer = Producer::connect(&addr).await.unwrap();
    let mut consumers = Vec::new();
    for i in 0..5 {
        producer
            .send(Message::new(format!("listed-{i}"), "x"))
            .await
            .unwrap();
        let config = ConsumerConfig::new(&addr, &format!("lister-{i}"), &format!("listed-{i}"));
        consumers.push(collect(config).await.0);
    }
    let everything = admin_get(&admin, "/topics").await;
    let all_topics: Vec<String> = everything["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["topic"].as_str().unwrap().to_owned())
        .collect();
    assert!(all_topics.len() >= 5, "{all_topics:?}");
    assert!(everything["next_after"].is_null());

    // Topics: two at a time, following next_after, in name order, each once.
    let (mut paged, mut after) = (Vec::new(), String::new());
    loop {
        let page = admin_get(&admin, &format!("/topics?limit=2&after={after}")).await;
        let names: Vec<String> = page["topics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["topic"].as_str().unwrap().to_owned())
            .collect();
        assert!(names.len() <= 2);
        paged.extend(names);
        match page["next_after"].as_str() {
            Some(next) => after = next.to_owned(),
            None => break,
        }
    }
    let mut sorted = all_topics.clone();
    sorted.sort();
    assert_eq!(paged, sorted);

    // Groups: two at a time, following the x-next-after header.
    let mut groups = Vec::new();
    let mut url = format!("http://{admin}/groups?limit=2");
    loop {
        let r = reqwest::get(&url).await.unwrap();
        let next = r
            .headers()
            .get("x-next-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let page: serde_json::Value = r.json().await.unwrap();
        let page = page.as_array().unwrap();
        assert!(page.len() <= 2);
        groups.extend(page.iter().map(|g| g["group"].as_str().unwrap().to_owned()));
        match next {
            Some(next) => url = format!("http://{admin}/groups?limit=2&after={next}"),
            None => break,
        }
    }
    let listers: Vec<&String> = groups.iter().filter(|g| g.starts_with("lister-")).collect();
    assert_eq!(
        listers,
        ["lister-0", "lister-1", "lister-2", "lister-3", "lister-4"]
    );
    let mut deduped = groups.clone();
    deduped.dedup();
    assert_eq!(deduped, groups, "a group listed twice");

    for bad in ["/topics?limit=0", "/groups?limit=1001"] {
        let r = reqwest::get(format!("http://{admin}{bad}")).await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
    for c in consumers {
        c.shutdown().await;
    }
    broker.shutdown().await;
}
