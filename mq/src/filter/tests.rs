//! Semantics of SQL92 filters against property sets, after RocketMQ's own
//! expression tests, plus hostile input.

use std::collections::BTreeMap;

use super::*;

fn eval(expr: &str, props: &[(&str, &str)]) -> bool {
    let props: BTreeMap<&str, &str> = props.iter().copied().collect();
    let f = SqlFilter::parse(expr).unwrap_or_else(|e| panic!("{expr:?}: {e}"));
    f.matches_with(|name| props.get(name).copied())
}

#[test]
fn and_or_compare_property_text_as_numbers() {
    let and = "a=3 and b<>4 And c>5 AND d<=4";
    assert!(eval(and, &[("a", "3"), ("b", "5"), ("c", "6"), ("d", "1")]));
    assert!(!eval(
        and,
        &[("a", "4"), ("b", "5"), ("c", "6"), ("d", "1")]
    ));
    let or = "a=3 or b<>4 Or c>5 OR d<=4";
    assert!(eval(or, &[("a", "3")]));
    assert!(eval(or, &[("a", "4"), ("b", "5")]));
    assert!(eval(or, &[("a", "4"), ("b", "4"), ("c", "3"), ("d", "2")]));
    assert!(!eval(
        or,
        &[("a", "4"), ("b", "4"), ("c", "3"), ("d", "10")]
    ));
}

#[test]
fn the_brief_example_matches_only_what_it_says() {
    let e = "a > 5 AND b = 'x'";
    assert!(eval(e, &[("a", "6"), ("b", "x")]));
    assert!(!eval(e, &[("a", "5"), ("b", "x")]));
    assert!(!eval(e, &[("a", "6"), ("b", "y")]));
    assert!(!eval(e, &[("b", "x")]));
}

#[test]
fn numbers_compare_exactly_as_integers_and_across_kinds() {
    assert!(eval("a > 3.14", &[("a", "3.1415")]));
    assert!(eval("a > 3.1E10", &[("a", "31415000000")]));
    assert!(eval("a = 3", &[("a", "3.0")]));
    assert!(eval("a > -1", &[("a", "0")]));
    assert!(eval("a > b", &[("a", "20"), ("b", "10")]));
    assert!(!eval("a > b", &[("a", "10"), ("b", "20")]));
    // Beyond f64's exact range: integers stay exact.
    assert!(eval("a > 9007199254740992", &[("a", "9007199254740993")]));
    assert!(eval("1 < 2", &[]));
}

#[test]
fn between_includes_its_bounds() {
    let e = "a between 2 and 10";
    for (v, want) in [
        ("1", false),
        ("2", true),
        ("3", true),
        ("10", true),
        ("11", false),
    ] {
        assert_eq!(eval(e, &[("a", v)]), want, "a = {v}");
        assert_eq!(
            eval("a not between 2 and 10", &[("a", v)]),
            !want,
            "a = {v}"
        );
    }
}

#[test]
fn in_and_not_in_compare_text() {
    let e = "a in ('3', '4', '5')";
    assert!(eval(e, &[("a", "3")]) && eval(e, &[("a", "5")]));
    assert!(!eval(e, &[("a", "8")]));
    assert!(eval("a not in ('3', '4', '5')", &[("a", "8")]));
    assert!(!eval("a not in ('3', '4', '5')", &[("a", "4")]));
}

#[test]
fn is_null_and_is_not_null_test_presence() {
    assert!(eval("a is null", &[("abc", "2")]));
    assert!(!eval("a is null", &[("a", "2")]));
    assert!(eval("a is not null", &[("a", "")]));
    assert!(!eval("a is not null", &[]));
    assert!(eval("a is not null and a='hello'", &[("a", "hello")]));
    assert!(eval("a is null OR a='hello'", &[]));
    assert!(!eval("a is null OR a='hello'", &[("a", "abc")]));
}

#[test]
fn a_missing_property_matches_no_comparison_nor_its_negation() {
    for e in [
        "a = 'x'",
        "a <> 'x'",
        "NOT a = 'x'",
        "a > 1",
        "NOT a > 1",
        "a between 1 and 2",
        "a not between 1 and 2",
        "a in ('x')",
        "a not in ('x')",
        "a = b",
    ] {
        assert!(!eval(e, &[("b", "x")]), "{e}");
    }
    // UNKNOWN OR TRUE is TRUE; UNKNOWN AND FALSE is FALSE, and NOT of that TRUE.
    assert!(eval("a = 1 OR b = 'x'", &[("b", "x")]));
    assert!(eval("NOT (a = 1 AND b = 'y')", &[("b", "x")]));
    assert!(!eval("NOT (a = 1 AND b = 'x')", &[("b", "x")]));
}

#[test]
fn a_type_mismatch_matches_nothing_even_under_not_or_or() {
    assert!(!eval("a > 5", &[("a", "abc")]));
    assert!(!eval("NOT a > 5", &[("a", "abc")]));
    assert!(!eval("a = 5", &[("a", "five")]));
    assert!(!eval("a between 0 and 100", &[("a", "abc")]));
    assert!(!eval("a > 5 OR b = 'x'", &[("a", "abc"), ("b", "x")]));
    assert!(!eval("a > b", &[("a", "3"), ("b", "NaN")]));
    assert!(!eval("a > 1", &[("a", "inf")]));
    // Evaluation stops at the first deciding term, as RocketMQ's does.
    assert!(eval("b = 'x' OR a > 5", &[("a", "abc"), ("b", "x")]));
    // Text against text is text equality, never a mismatch.
    assert!(eval("a = b", &[("a", "3.14"), ("b", "3.14")]));
    assert!(eval("a <> b", &[("a", "3.14"), ("b", "3.141")]));
}

#[test]
fn booleans_read_true_and_false_in_any_case() {
    let e = "a=TRUE OR b=FALSE";
    assert!(eval(e, &[("a", "true"), ("b", "false")]));
    assert!(eval(e, &[("a", "TRUE")]));
    assert!(!eval(e, &[("a", "false"), ("b", "true")]));
    assert!(!eval("a = TRUE", &[("a", "yes")]));
    assert!(eval("TRUE", &[]) && !eval("FALSE", &[]));
    assert!(eval("TRUE = TRUE AND NOT FALSE", &[]));
}

#[test]
fn strings_keep_quotes_and_unicode() {
    assert!(eval("TAGS='''''tag'''''", &[("TAGS", "''tag''")]));
    assert!(eval("city = 'Zürich'", &[("city", "Zürich")]));
    assert!(!eval("city = 'zürich'", &[("city", "Zürich")]));
}

#[test]
fn sql_filters_see_the_tag_as_tags() {
    let f = Filter::compile(&MessageSelector::Sql92(
        "TAGS IN ('paid', 'created') AND amount >= 100".into(),
    ))
    .unwrap();
    let mut m = crate::message::StoredMessage {
        id: crate::message::MessageId {
            instance: 1,
            offset: 1,
        },
        topic: "t".into(),
        tag: "paid".into(),
        keys: vec![],
        body: bytes::Bytes::new(),
        properties: [("amount".to_string(), "150".to_string())].into(),
        sharding_key: None,
        store_topic: "t".into(),
        queue: 0,
        queue_offset: 0,
        born_at_ms: 0,
        stored_at_ms: 0,
        deliver_at_ms: 0,
        attempt: 1,
        log_offset: 0,
    };
    assert!(f.matches(&m));
    m.tag = "cancelled".into();
    assert!(!f.matches(&m));
    m.tag = String::new();
    assert!(!f.matches(&m));
    assert!(f.may_match_hash(0) && !f.is_all());
    assert_eq!(
        f.to_string(),
        "SQL92: TAGS IN ('paid', 'created') AND amount >= 100"
    );
}

#[test]
fn tag_selectors_still_compile_as_before() {
    let f = Filter::compile(&MessageSelector::Tag("created || paid".into())).unwrap();
    assert_eq!(f.to_string(), "created || paid");
    assert!(
        Filter::compile(&MessageSelector::Tag("*".into()))
            .unwrap()
            .is_all()
    );
    assert!(Filter::compile(&MessageSelector::Tag("a ||".into())).is_err());
}

#[test]
fn a_bad_expression_is_refused_with_column_and_reason() {
    let e = Filter::compile(&MessageSelector::Sql92("a > 'x'".into())).unwrap_err();
    assert_eq!(e.code(), crate::ErrorCode::InvalidRequest);
    assert_eq!(
        e.to_string(),
        "invalid: bad SQL92 filter: column 5: 'x' cannot be compared with >: use a number or a property"
    );
}

#[test]
fn hostile_input_is_refused_or_parsed_never_a_panic() {
    let mut inputs = vec![
        "(".repeat(100_000),
        ")".repeat(10),
        "NOT ".repeat(10_000),
        "'".repeat(3),
        "a in (".to_string(),
        "a between".to_string(),
        "a between 1".to_string(),
        "a between 1 and".to_string(),
        "a is not".to_string(),
        "-".to_string(),
        "9".repeat(400),
        "a = 1e999".to_string(),
        "\u{0}\u{ffff}".to_string(),
        "a = 'unterminated ü".to_string(),
    ];
    let mut seed = 7u64;
    let alphabet: Vec<char> = "ab( )'=<>!-.,1e9 ANDORNOTINISBETWEENNULLTRUEü\u{0}"
        .chars()
        .collect();
    for _ in 0..20_000 {
        let mut s = String::new();
        for _ in 0..(seed % 40) {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
        }
        inputs.push(s);
    }
    for input in &inputs {
        if let Ok(f) = SqlFilter::parse(input) {
            let _ = f.matches_with(|_| Some("1"));
            let _ = f.matches_with(|_| None);
        }
    }
}
