//! Fuzz check of the SQL92 filter language.

use std::collections::BTreeMap;

use crate::filter::SqlFilter;

/// First line: the expression; further lines: `name=value` properties.
pub fn sql_filter(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (expr, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let props: BTreeMap<&str, &str> = rest.lines().filter_map(|l| l.split_once('=')).collect();
    let lookup = |name: &str| props.get(name).copied();
    match SqlFilter::parse(expr) {
        Ok(filter) => {
            let matched = filter.matches_with(lookup);
            let _ = filter.matches_with(|_| None);
            let _ = filter.matches_with(|_| Some("1"));
            if let Ok(negated) = SqlFilter::parse(&format!("NOT ({expr})")) {
                assert!(
                    !(matched && negated.matches_with(lookup)),
                    "{expr:?} and its negation both match {props:?}"
                );
            }
        }
        Err(e) => {
            let columns = expr.chars().count() + 1;
            assert!(
                (1..=columns).contains(&e.column),
                "error column {} outside 1..={columns} for {expr:?}: {e}",
                e.column
            );
        }
    }
}
