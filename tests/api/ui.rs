//! The job pages at `/ui`: rendering, login and cookie, isolation, event streams (over HTTP), and
//! end to end in headless Chromium (rendered page, plots that load, live progress), which saves
//! screenshots for review.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, Options, TestApp, matrix, spawn_app};
use crate::on_both_backends;

/// A client that does not follow redirects and keeps no cookies, so each response is seen as is.
fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn page(app: &TestApp, path: &str, cookie: Option<&str>) -> (StatusCode, String) {
    let mut req = raw_client().get(format!("{}{path}", app.base));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    (status, resp.text().await.expect("body"))
}

/// Reads a whole event stream (it ends by itself once its jobs have finished).
async fn sse_events(resp: reqwest::Response) -> Vec<(String, Value)> {
    let mut body = String::new();
    let mut stream = resp.bytes_stream();
    let read = async {
        while let Some(chunk) = stream.next().await {
            body.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the stream ends when its jobs have finished");
    body.split("\n\n")
        .filter_map(|block| {
            let mut kind = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    kind = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = serde_json::from_str(v.trim()).ok();
                }
            }
            Some((kind?, data?))
        })
        .collect()
}

/// Uploads a layer and two areas and runs a finished score table (layer × areas) on them.
async fn scored_table(app: &TestApp) -> (String, Vec<String>) {
    let x = app.upload_ok(&matrix(40, 12, 1), "layer<4>.npy").await;
    let y1 = app.upload_ok(&matrix(40, 9, 2), "area-IT.npy").await;
    let y2 = app.upload_ok(&matrix(40, 7, 3), "area-V4.npy").await;
    let job = app
        .submit_ok(
            "score",
            json!({"x": [{"dataset": x}], "y": [{"dataset": y1}, {"dataset": y2}],
                   "measures": ["cka", "procrustes-angular-score"], "permutations": 20, "seed": 1}),
        )
        .await;
    let done = app.wait_finished(&job, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    (job, vec![x, y1, y2])
}

async fn pages_single_user(backend: Backend) {
    let Some(app) = spawn_app(backend, Options::default()).await else {
        return;
    };
    // Single-user mode (loopback, no tokens): the pages need no login.
    let (status, html) = page(&app, "/ui", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No jobs yet"), "{html}");
    let (job, datasets) = scored_table(&app).await;

    let resp = raw_client()
        .get(format!("{}/ui", app.base))
        .send()
        .await
        .expect("list");
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_string();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    let html = resp.text().await.expect("html");
    assert!(html.contains(&format!(r#"data-job-id="{job}" data-status="succeeded""#)));
    assert!(!html.contains("https://"), "no external resources: {html}");

    let (status, html) = page(&app, &format!("/ui/jobs/{job}"), None).await;
    assert_eq!(status, StatusCode::OK);
    // A heatmap per measure, rows = x arrays, columns = y arrays, labelled by dataset name.
    assert!(
        html.contains(r#"<table class="heatmap" data-measure="cka">"#),
        "{html}"
    );
    assert!(html.contains(r#"data-measure="procrustes-angular-score""#));
    assert!(
        html.contains("layer&lt;4&gt;.npy"),
        "names are escaped: {html}"
    );
    assert!(!html.contains("layer<4>"), "names are escaped");
    assert!(html.contains(r#"<th scope="col">area-IT.npy</th>"#));
    assert!(html.contains("p=")); // permutation p-values in the cells
    assert!(html.contains(r#"<h2 id="reproducibility">"#) && html.contains("simscore_version"));
    for id in &datasets {
        assert!(html.contains(id.as_str()), "inputs listed: {id}");
    }
    let href = format!("/ui/jobs/{job}/artifacts/scores.csv");
    assert!(html.contains(&href), "{html}");
    let (status, csv) = page(&app, &href, None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, api_csv) = app
        .get(&format!("/v1/jobs/{job}/artifacts/scores.csv"))
        .await;
    assert_eq!(Value::String(csv), api_csv);

    let (status, html) = page(&app, "/ui/datasets", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"<span class="shape">40 × 12</span>"#),
        "{html}"
    );
    assert!(html.contains(r#"<span class="shape">40 × 7</span>"#));
    assert!(html.contains("float64"));

    let (status, html) = page(&app, "/ui/jobs/no-such-job", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("No such job"));
    let (status, _) = page(&app, "/ui/static/ui.js", None).await;
    assert_eq!(status, StatusCode::OK);

    // The event streams of a finished job replay its status changes and then end.
    let resp = raw_client()
        .get(format!("{}/ui/jobs/{job}/events", app.base))
        .send()
        .await
        .expect("events");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/event-stream")
    );
    let events = sse_events(resp).await;
    let statuses: Vec<&str> = events
        .iter()
        .filter(|(k, _)| k == "status")
        .filter_map(|(_, d)| d["data"]["status"].as_str())
        .collect();
    assert_eq!(statuses, ["queued", "running", "succeeded"], "{events:?}");
    assert!(events.iter().all(|(k, d)| k == "end" || d["job"] == job));
    assert_eq!(events.last().map(|e| e.0.as_str()), Some("end"));
    // Of the progress ticks, a replay sends only the newest.
    assert!(events.iter().filter(|(k, _)| k == "progress").count() <= 1);

    let resp = raw_client()
        .get(format!("{}/ui/events?jobs={job},unknown", app.base))
        .send()
        .await
        .expect("list events");
    let events = sse_events(resp).await;
    assert!(events.iter().any(|(k, d)| k == "status" && d["job"] == job));
    assert_eq!(events.last().map(|e| e.0.as_str()), Some("end"));
}
on_both_backends!(pages_single_user);

async fn pages_with_tokens(backend: Backend) {
    let Some(app) = spawn_app(backend, Options::default()).await else {
        return;
    };
    let alice_token = app.create_token("alice", false);
    let bob_token = app.create_token("bob", false);
    let alice = app.as_user(&alice_token);
    let (job, datasets) = scored_table(&alice).await;

    // Anonymous visitors are sent to the login form, and remembered where they were going.
    let (status, _) = page(&app, &format!("/ui/jobs/{job}"), None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let resp = raw_client()
        .get(format!("{}/ui/jobs/{job}", app.base))
        .send()
        .await
        .expect("page");
    let location = resp.headers()["location"].to_str().expect("location");
    assert_eq!(location, format!("/ui/login?next=/ui/jobs/{job}"));
    let (status, html) = page(&app, location, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"name="token" type="password""#), "{html}");
    // Data routes answer 401 rather than redirecting.
    let (status, _) = page(&app, &format!("/ui/jobs/{job}/events"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = page(&app, &format!("/ui/jobs/{job}/artifacts/scores.csv"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let login = |token: &str, next: &str| {
        raw_client()
            .post(format!("{}/ui/login", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}&next={}", next.replace('/', "%2F")))
            .send()
    };
    let resp = login("ssk_wrong", "/ui").await.expect("login");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().get("set-cookie").is_none());
    assert!(
        resp.text()
            .await
            .expect("body")
            .contains("unknown or revoked")
    );

    // An outside `next` is not followed.
    let resp = login(&alice_token, "https://evil.example/")
        .await
        .expect("login");
    assert_eq!(resp.headers()["location"], "/ui");
    let resp = login(&alice_token, &format!("/ui/jobs/{job}"))
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        resp.headers()["location"],
        format!("/ui/jobs/{job}").as_str()
    );
    let set_cookie = resp.headers()["set-cookie"].to_str().expect("cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    let alice_cookie = set_cookie.split(';').next().expect("pair").to_string();
    assert_eq!(alice_cookie, format!("simscore_token={alice_token}"));

    let (status, html) = page(&app, &format!("/ui/jobs/{job}"), Some(&alice_cookie)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(r#"<span class="who">alice</span>"#));
    assert!(html.contains("Log out"));
    let (status, _) = page(
        &app,
        &format!("/ui/jobs/{job}/artifacts/scores.csv"),
        Some(&alice_cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The cookie opens the pages only, not the JSON API.
    let (status, _) = page(&app, "/v1/jobs", Some(&alice_cookie)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A bearer header works for the pages too; a wrong one is refused, not ignored.
    let resp = raw_client()
        .get(format!("{}/ui/datasets", app.base))
        .bearer_auth(&alice_token)
        .send()
        .await
        .expect("page");
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = raw_client()
        .get(format!("{}/ui", app.base))
        .bearer_auth("ssk_wrong")
        .header("cookie", &alice_cookie)
        .send()
        .await
        .expect("page");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // Bob sees none of alice's jobs, datasets, artifacts or events.
    let bob_cookie = format!("simscore_token={bob_token}");
    let (status, html) = page(&app, "/ui", Some(&bob_cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains(&job), "{html}");
    let (_, html) = page(&app, "/ui/datasets", Some(&bob_cookie)).await;
    for id in &datasets {
        assert!(!html.contains(id.as_str()));
    }
    for path in [
        format!("/ui/jobs/{job}"),
        format!("/ui/jobs/{job}/events"),
        format!("/ui/jobs/{job}/artifacts/scores.csv"),
    ] {
        let (status, _) = page(&app, &path, Some(&bob_cookie)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let resp = raw_client()
        .get(format!("{}/ui/events?jobs={job}", app.base))
        .header("cookie", &bob_cookie)
        .send()
        .await
        .expect("events");
    let events = sse_events(resp).await;
    assert_eq!(events.len(), 1, "only the end: {events:?}");
    assert_eq!(events[0].0, "end");

    // Logging out clears the cookie; a revoked token's cookie leads back to the login form.
    let resp = raw_client()
        .post(format!("{}/ui/logout", app.base))
        .header("cookie", &alice_cookie)
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(
        resp.headers()["set-cookie"]
            .to_str()
            .unwrap_or_default()
            .contains("Max-Age=0")
    );
}
on_both_backends!(pages_with_tokens);

// -------------------------------------------------------------------------------------------------
// Headless Chromium

const REQUIRE_BROWSER: &str = "SIMSCORE_REQUIRE_BROWSER";
const UPDATE_SCREENSHOTS: &str = "SIMSCORE_UPDATE_SCREENSHOTS";

/// The W3C WebDriver protocol over HTTP: the few commands this test needs.
struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    driver: std::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session, or `None` when they are not installed.
    async fn start() -> Option<Browser> {
        let driver_bin = std::env::var("SIMSCORE_CHROMEDRIVER")
            .unwrap_or_else(|_| "/usr/bin/chromedriver".to_string());
        let chromium =
            std::env::var("SIMSCORE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
        if !Path::new(&driver_bin).exists() || !Path::new(&chromium).exists() {
            assert!(
                std::env::var_os(REQUIRE_BROWSER).is_none(),
                "{REQUIRE_BROWSER} is set but {driver_bin} or {chromium} is missing (apt-get install chromium chromium-driver)"
            );
            eprintln!(
                "skipped: no {driver_bin} / {chromium} (apt-get install chromium chromium-driver)"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let driver = std::process::Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1280,900",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"}
        }}});
        let resp: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session json");
        let session = resp["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {resp}"))
            .to_string();
        Some(Browser {
            http,
            base,
            session,
            driver,
            _profile: profile,
        })
    }

    async fn cmd(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("webdriver json");
        assert!(
            v["value"].get("error").is_none(),
            "webdriver {path}: {}",
            v["value"]
        );
        v["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.cmd(Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn eval(&self, script: &str) -> Value {
        self.cmd(
            Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Evaluates `script` until `done` accepts its value, or fails after `timeout`.
    async fn wait_for(
        &self,
        what: &str,
        script: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = Instant::now();
        loop {
            let v = self.eval(script).await;
            if done(&v) {
                return v;
            }
            assert!(
                started.elapsed() < timeout,
                "timed out waiting for {what}; last value {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        let el = self
            .cmd(
                Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        let id = el["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .expect("element id")
            .to_string();
        self.cmd(
            Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// A PNG of the whole page (the window is resized to the page's height first).
    async fn screenshot(&self, path: &Path) {
        let height = self
            .eval("return document.documentElement.scrollHeight")
            .await
            .as_u64()
            .unwrap_or(900)
            .clamp(600, 4000);
        self.cmd(
            Method::POST,
            "/window/rect",
            Some(json!({"width": 1280, "height": height})),
        )
        .await;
        let b64 = self.cmd(Method::GET, "/screenshot", None).await;
        let png = base64_decode(b64.as_str().expect("base64"));
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::create_dir_all(path.parent().expect("dir")).expect("screenshot dir");
        std::fs::write(path, png).expect("writing the screenshot");
        eprintln!("screenshot: {}", path.display());
        self.cmd(
            Method::POST,
            "/window/rect",
            Some(json!({"width": 1280, "height": 900})),
        )
        .await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session (and its Chromium), then the driver. Drop cannot await, and may run
        // on the test's runtime: a thread with its own runtime sends the request.
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    let _ = reqwest::Client::new().delete(url).send().await;
                });
            }
        })
        .join();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn screenshot_path(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os(UPDATE_SCREENSHOTS).is_some() {
        root.join("docs/screenshots").join(name)
    } else {
        root.join("target/ui-screenshots").join(name)
    }
}

/// Logs in through the form, watches a running job's progress arrive on the list and on its page,
/// checks that the page reloads with its plots when the job ends and that every image loads, and
/// saves screenshots (to target/ui-screenshots/, or docs/screenshots/ with
/// SIMSCORE_UPDATE_SCREENSHOTS=1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_pages_in_chromium() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let Some(app) = spawn_app(Backend::Sqlite, Options::default()).await else {
        return;
    };
    let token = app.create_token("alice", false);
    let alice = app.as_user(&token);
    let (score_job, _) = scored_table(&alice).await;
    let (_, version) = alice.get("/v1/version").await;
    let kinds: Vec<&str> = version["job_kinds"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();

    // A job that runs for a few seconds, reporting progress, and ends with plots: an `optimize`
    // run where the server has that kind, else a score job with many permutations.
    let slow_job = if kinds.contains(&"optimize") {
        alice
            .submit_ok(
                "optimize",
                json!({"target": {"builtin": "ultrametric"},
                       "settings": {"measures": ["cka"], "max_iter": 2500, "record_every": 25,
                                    "snapshot_every": 500},
                       "analyses": {"pc_capture": true}, "seed": 3}),
            )
            .await
    } else {
        let x = alice.upload_ok(&matrix(150, 40, 7), "big-x.npy").await;
        let y = alice.upload_ok(&matrix(150, 30, 8), "big-y.npy").await;
        alice
            .submit_ok(
                "score",
                json!({"x": {"dataset": x}, "y": {"dataset": y},
                       "measures": ["procrustes-angular-score"], "permutations": 4000, "seed": 2}),
            )
            .await
    };
    alice
        .wait_job(&slow_job, Duration::from_secs(60), |j| {
            j["status"] == "running" || j["status"] == "succeeded"
        })
        .await;

    // Logging in through the form lands on the page asked for.
    browser.goto(&format!("{}/ui", app.base)).await;
    browser
        .wait_for(
            "the login form",
            "return location.pathname",
            Duration::from_secs(10),
            |v| v == "/ui/login",
        )
        .await;
    browser.type_into("#token", &token).await;
    browser
        .eval("document.querySelector('form.login').submit()")
        .await;
    browser
        .wait_for(
            "the job list after logging in",
            "return [location.pathname, (document.querySelector('.who') || {}).textContent || '']",
            Duration::from_secs(10),
            |v| v[0] == "/ui" && v[1] == "alice",
        )
        .await;

    // The list: the stylesheet applied, and the running job's row follows the event stream.
    let styled = browser
        .eval("return getComputedStyle(document.querySelector('header')).display")
        .await;
    assert_eq!(styled, "flex", "ui.css is applied");
    let row = format!("document.querySelector('tr[data-job-id=\"{slow_job}\"]')");
    let probe = format!(
        "const r = {row}; return r ? [r.dataset.status, r.querySelector('progress').value, +(document.body.dataset.sseEvents || 0)] : null"
    );
    let first = browser
        .wait_for(
            "progress events on the job list",
            &probe,
            Duration::from_secs(30),
            |v| v[2].as_f64().unwrap_or(0.0) > 0.0,
        )
        .await;
    // Whether a progress bar was seen moving while the job ran (on the list or on its page).
    let mut saw_live_progress = false;
    if first[0] == "running" {
        let p0 = first[1].as_f64().unwrap_or(0.0);
        let v = browser
            .wait_for(
                "the list's progress bar to move",
                &probe,
                Duration::from_secs(30),
                |v| v[0] != "running" || v[1].as_f64().unwrap_or(0.0) > p0,
            )
            .await;
        saw_live_progress |= v[1].as_f64().unwrap_or(0.0) > p0 && v[1].as_f64() < Some(1.0);
    }
    browser.screenshot(&screenshot_path("job-list.png")).await;

    // The running job's page: live progress, then a reload with the result when it ends.
    browser
        .goto(&format!("{}/ui/jobs/{slow_job}", app.base))
        .await;
    let page_probe = "const p = document.querySelector('[data-job-page]'); return [p.dataset.status, p.querySelector('progress').value, +(document.body.dataset.sseEvents || 0)]";
    let first = browser.eval(page_probe).await;
    if first[0] == "running" {
        let p0 = first[1].as_f64().unwrap_or(0.0);
        let v = browser
            .wait_for(
                "progress updates on the job page",
                page_probe,
                Duration::from_secs(30),
                |v| {
                    v[0] != "running"
                        || (v[2].as_f64().unwrap_or(0.0) > 0.0 && v[1].as_f64().unwrap_or(0.0) > p0)
                },
            )
            .await;
        saw_live_progress |= v[0] == "running";
    }
    assert!(
        saw_live_progress,
        "the job ended before any live progress could be seen; make it longer"
    );
    browser
        .wait_for(
            "the job to finish and the page to show it",
            // The server-rendered status (the script updates `data-status` live, then reloads).
            "const p = document.querySelector('[data-job-page]'); return p && p.dataset.renderedStatus",
            Duration::from_secs(90),
            |v| v == "succeeded",
        )
        .await;
    let images = browser
        .wait_for(
            "the plots to load",
            "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth, i.naturalHeight])",
            Duration::from_secs(20),
            |v| {
                v.as_array()
                    .is_some_and(|a| a.iter().all(|i| i[1] == true && i[2].as_u64() > Some(0)))
            },
        )
        .await;
    let images = images.as_array().cloned().unwrap_or_default();
    if kinds.contains(&"optimize") {
        assert!(
            images.len() >= 2,
            "an optimize job shows its plots: {images:?}"
        );
        for img in &images {
            assert!(
                img[2].as_u64() >= Some(400),
                "a plot is drawn large enough: {img}"
            );
        }
    }
    browser.screenshot(&screenshot_path("job-page.png")).await;

    // A finished score table: one heatmap per measure, with its values.
    browser
        .goto(&format!("{}/ui/jobs/{score_job}", app.base))
        .await;
    let cells = browser
        .eval("return document.querySelectorAll('table.heatmap td.num').length")
        .await;
    assert_eq!(cells, 4, "2 measures × (1 × 2) cells");
    let heat = browser
        .eval("return getComputedStyle(document.querySelector('table.heatmap td.num')).backgroundColor")
        .await;
    assert!(
        heat.as_str()
            .is_some_and(|c| c.starts_with("rgb(") && c != "rgba(0, 0, 0, 0)"),
        "heatmap cells are coloured: {heat}"
    );
    browser
        .screenshot(&screenshot_path("score-job-page.png"))
        .await;

    // Datasets with their shapes.
    browser.goto(&format!("{}/ui/datasets", app.base)).await;
    let shapes = browser
        .eval("return Array.from(document.querySelectorAll('.shape')).map(e => e.textContent)")
        .await;
    assert!(
        shapes
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s == "40 × 12")),
        "{shapes}"
    );
    // No errors in the browser console (CSP violations, failed loads, script errors).
    let logs = browser
        .http
        .post(format!(
            "{}/session/{}/se/log",
            browser.base, browser.session
        ))
        .json(&json!({"type": "browser"}))
        .send()
        .await
        .ok();
    if let Some(resp) = logs
        && let Ok(v) = resp.json::<Value>().await
        && let Some(entries) = v["value"].as_array()
    {
        let severe: Vec<&Value> = entries.iter().filter(|e| e["level"] == "SEVERE").collect();
        assert!(severe.is_empty(), "browser console errors: {severe:?}");
    }
}
