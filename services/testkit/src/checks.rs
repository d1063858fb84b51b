//! Checks every service passes the same way (called from each service's tests).

use std::time::{Duration, Instant};

use super::{ShopApp, TestApp, TestEnv, closed_port_database_url, json};

/// A client's `x-request-id` comes back unchanged; without one, one is made up.
pub async fn request_id_is_echoed_or_generated(app: &TestApp) {
    let given = app
        .http
        .get(app.url("/health"))
        .header("x-request-id", "test-req-42")
        .send()
        .await
        .expect("GET /health");
    assert_eq!(given.headers()["x-request-id"], "test-req-42");

    let made = app.get("/no-such-endpoint").await;
    assert_eq!(made.status(), 404);
    let id = made.headers()["x-request-id"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(id.len() >= 16, "a generated id: {id:?}");
    let other = app.get("/no-such-endpoint").await;
    assert_ne!(other.headers()["x-request-id"].to_str().unwrap(), id);
}

/// `/metrics` holds the request counter and latency histogram of `route`, which
/// the caller has just requested (any status).
pub async fn metrics_show_route(app: &TestApp, route: &str) {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("metrics text");
    let service = format!("service=\"{}\"", app.service.binary());
    let route = format!("route=\"{route}\"");
    let has = |name: &str| {
        text.lines()
            .any(|l| l.starts_with(name) && l.contains(&service) && l.contains(&route))
    };
    assert!(
        has("http_requests_total{"),
        "request count of {route}:\n{text}"
    );
    assert!(
        has("http_request_duration_seconds_bucket{"),
        "latency histogram of {route}:\n{text}"
    );
}

/// `/openapi.json` describes exactly `paths` plus the shared endpoints.
pub async fn openapi_lists_exactly(app: &TestApp, paths: &[&str]) {
    let doc = json(app.get("/openapi.json").await).await;
    let mut listed: Vec<String> = doc["paths"]
        .as_object()
        .expect("paths object")
        .keys()
        .cloned()
        .collect();
    listed.sort();
    let mut expected: Vec<String> = paths
        .iter()
        .chain(&["/health", "/metrics", "/openapi.json"])
        .map(|p| p.to_string())
        .collect();
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(doc["info"]["title"], app.service.binary());
}

/// `/health` answers 200 naming every check `up`.
pub async fn health_is_ok(app: &TestApp) {
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    let body = json(response).await;
    assert_eq!(body["status"], "ok");
    for check in ["database", "redis", "broker"] {
        assert_eq!(body["checks"][check], "up", "{body}");
    }
}

/// With `DATABASE_URL` on a closed port the app still starts, and `/health`
/// answers 503 naming `database` within 2 s.
pub async fn health_names_database_when_its_port_is_closed<A: ShopApp>(env: &TestEnv) {
    let url = closed_port_database_url().await;
    let app = env.start_with::<A>(move |s| s.database_url = url).await;
    for _ in 0..2 {
        let started = Instant::now();
        let response = app.get("/health").await;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "answered in {took:?}");
        assert_eq!(response.status(), 503);
        let body = json(response).await;
        assert_eq!(body["code"], "UNAVAILABLE");
        assert_eq!(body["down"], serde_json::json!(["database"]), "{body}");
        assert_eq!(body["checks"]["redis"], "up");
        assert_eq!(body["checks"]["broker"], "up");
    }
    app.stop().await;
}

/// Every input of every operation of `/openapi.json` states a bound (docs/api.md,
/// "Conventions"): each string a `maxLength`, an anchored `pattern` or an `enum`, each
/// number a `minimum` and a `maximum`, in path, query and header parameters and in
/// request bodies (through `$ref`, `oneOf`, `anyOf` and properties); and every
/// operation that takes an input documents its 400 answer.
pub async fn openapi_bounds_every_input(app: &TestApp) {
    let doc = json(app.get("/openapi.json").await).await;
    let mut problems = Vec::new();
    let paths = doc["paths"].as_object().expect("paths object");
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            let name = format!("{} {path}", method.to_uppercase());
            let mut inputs = 0;
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                inputs += 1;
                let at = format!("{name} parameter {}", parameter["name"]);
                unbounded(&doc, &parameter["schema"], &at, &mut problems);
            }
            if let Some(content) = operation["requestBody"]["content"].as_object() {
                for (media, body) in content {
                    inputs += 1;
                    let at = format!("{name} body {media}");
                    unbounded(&doc, &body["schema"], &at, &mut problems);
                }
            }
            if inputs > 0 && operation["responses"]["400"].is_null() {
                problems.push(format!("{name}: no 400 answer documented"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "unbounded inputs:\n{}",
        problems.join("\n")
    );
}

fn unbounded(doc: &serde_json::Value, schema: &serde_json::Value, at: &str, out: &mut Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return unbounded(doc, &doc["components"]["schemas"][name], at, out);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for item in schema[key].as_array().into_iter().flatten() {
            unbounded(doc, item, at, out);
        }
    }
    if let Some(properties) = schema["properties"].as_object() {
        for (name, property) in properties {
            unbounded(doc, property, &format!("{at}.{name}"), out);
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        serde_json::Value::String(t) => vec![t.as_str()],
        serde_json::Value::Array(ts) => ts.iter().filter_map(|t| t.as_str()).collect(),
        _ => vec![],
    };
    let has = |key: &str| !schema[key].is_null();
    let anchored = schema["pattern"]
        .as_str()
        .is_some_and(|p| p.starts_with('^') && p.ends_with('$'));
    if types.contains(&"string") && !(has("maxLength") || anchored || has("enum")) {
        out.push(format!(
            "{at}: a string without maxLength, anchored pattern or enum"
        ));
    }
    if (types.contains(&"integer") || types.contains(&"number"))
        && !(has("minimum") && has("maximum"))
    {
        out.push(format!("{at}: a number without minimum and maximum"));
    }
    if types.contains(&"object") && !has("properties") && !has("enum") {
        out.push(format!("{at}: an object of any shape"));
    }
}
