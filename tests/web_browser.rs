//! The client's web page in a real browser: `cargo run --example router`, then
//! `cargo run --example client -- --web`, then clicks in a headless Chromium (driven through
//! chromedriver, tests/common/webdriver.rs), each checked against what
//! `cargo run --example client` prints for the same address. Where Chromium or chromedriver is
//! not installed, the tests print one line saying how to install them, and return.
//!
//! The screenshots in the README and the report are taken by the ignored test at the end:
//! `cargo test --test web_browser -- --ignored`.

mod common;
// Only this test drives a browser, so only it compiles the WebDriver client.
#[path = "common/webdriver.rs"]
mod webdriver;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use webdriver::Browser;

/// The terminal client's labels (src/client.rs, `details`) and the page's field for each.
const LABELS: [(&str, &str); 16] = [
    ("Status", "status"),
    ("Message", "message"),
    ("Country", "country"),
    ("CountryCode", "countryCode"),
    ("Region", "region"),
    ("RegionName", "regionName"),
    ("City", "city"),
    ("Zip", "zip"),
    ("LAT", "lat"),
    ("LON", "lon"),
    ("Timezone", "timezone"),
    ("ISP", "isp"),
    ("AS", "as"),
    ("Source", "source"),
    ("Served by", "served"),
    ("Waited for a slot", "waited"),
];

/// Waits, without polling, until the page has shown `arguments[0]` answers in all (the script
/// counts them in the card's `data-answers` once the card is complete), and returns how the
/// last one went (`data-state`: "success" or "fail").
const WAIT_FOR_ANSWERS: &str = r#"
const [count, done] = arguments;
const card = document.getElementById("card");
const ready = () => Number(card.dataset.answers) >= count;
if (ready()) {
  done(card.dataset.state);
} else {
  new MutationObserver((_, observer) => {
    if (ready()) {
      observer.disconnect();
      done(card.dataset.state);
    }
  }).observe(card, { attributes: true, attributeFilter: ["data-answers"] });
}
"#;

/// One of the example programs, run as a child process; stopped when dropped.
struct Program {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Program {
    fn start(name: &str, args: &[&str]) -> Program {
        let mut child = Command::new(common::example(name))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = common::stdout_lines(&mut child);
        Program { child, lines }
    }

    /// What follows `prefix` in the first line that starts with it.
    fn line_after(&self, prefix: &str) -> String {
        common::line_after(&self.lines, prefix, Duration::from_secs(30))
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cargo run --example router` (on free ports, the original's public address, no log) and
/// `cargo run --example client -- --web 127.0.0.1:0` asking it; returns both, the router's
/// address and the page's URL.
fn start_router_and_page() -> (Program, String, Program, String) {
    let args = [
        "--port",
        "0",
        "--server-port",
        "0",
        "--public-ip",
        "117.222.175.180",
        "--no-log",
    ];
    let router = Program::start("router", &args);
    let router_addr = format!(
        "127.0.0.1:{}",
        router.line_after("router: socket bound to port ")
    );
    let page = Program::start(
        "client",
        &["--web", "127.0.0.1:0", "--router", &router_addr],
    );
    let url = format!("http://{}", page.line_after("open http://"));
    (router, router_addr, page, url)
}

/// What `cargo run --example client -- IP --router ROUTER` prints, as the page's field ids and
/// values, with `query` from its first line.
fn terminal_client(router: &str, ip: &str) -> BTreeMap<String, String> {
    let output = Command::new(common::example("client"))
        .args([ip, "--router", router])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let query = first
        .strip_prefix("Getting details for IP: ")
        .and_then(|q| q.strip_suffix("...."));
    let mut fields = BTreeMap::from([("query".to_string(), query.expect(first).to_string())]);
    for line in lines.filter(|line| line.contains(" : ")) {
        let (label, value) = line.split_once(" : ").unwrap();
        let id = LABELS
            .iter()
            .find(|(l, _)| *l == label)
            .unwrap_or_else(|| panic!("{line}"))
            .1;
        fields.insert(id.to_string(), value.trim().to_string());
    }
    fields
}

/// Every field as the page shows it.
fn shown(browser: &Browser) -> BTreeMap<String, String> {
    // ip-api.com's fields, then ours: which slot served, and the wait.
    let ids = common::PAGE_FIELD_IDS
        .iter()
        .chain(&["source", "served", "waited"]);
    ids.map(|id| (id.to_string(), browser.text(&browser.by_id(id))))
        .collect()
}

/// Types `address` into the box, clicks the button, and waits for the answer, which is the
/// `count`th; returns how it went.
fn ask(browser: &Browser, address: &str, count: u64) -> String {
    browser.type_into(&browser.by_id("ip"), address);
    browser.click(&browser.by_id("ask"));
    let state = browser.execute_async(WAIT_FOR_ANSWERS, serde_json::json!([count]));
    state.as_str().expect("the card's state").to_string()
}

/// Asserts that every field the terminal client printed is on the page, with the same value
/// (the milliseconds waited for a slot aside, which differ between two requests).
fn assert_same_fields(page: &BTreeMap<String, String>, terminal: &BTreeMap<String, String>) {
    assert!(terminal.len() >= 4, "{terminal:?}");
    let without_ms = |text: &str| text.split_once(" ms").map(|(_, rest)| rest.to_string());
    for (id, value) in terminal {
        match id.as_str() {
            "waited" => assert_eq!(without_ms(&page[id]), without_ms(value), "waited"),
            _ => assert_eq!(
                &page[id], value,
                "field {id}: page {page:?}, terminal {terminal:?}"
            ),
        }
    }
}

/// Starts the browser, or says in one line why this test cannot run here. The line is written
/// to the process's standard error, past the test harness's capture, so that `cargo test` shows
/// it: a skipped test must not look like a pass.
fn browser_or_skip() -> Option<Browser> {
    match Browser::start(640, 900) {
        Ok(browser) => Some(browser),
        Err(why) => {
            let line = format!("web_browser: skipped, this test drives Chromium: {why}\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
            None
        }
    }
}

#[test]
fn clicks_in_chromium_show_what_the_terminal_client_shows_and_the_console_stays_clean() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let (router, router_addr, _page, url) = start_router_and_page();
    browser.open(&url);
    assert_eq!(
        browser.text(&browser.by_id("ask")),
        "Click me to get your location!"
    );
    let before = shown(&browser);
    assert!(
        before.values().all(String::is_empty),
        "nothing before the click: {before:?}"
    );

    // Click 1, the original's button: where am I?
    assert_eq!(ask(&browser, "", 1), "success");
    let mine = shown(&browser);
    assert_eq!(
        (mine["status"].as_str(), mine["query"].as_str()),
        ("success", "117.222.175.180")
    );
    assert_eq!(mine["city"], "Bengaluru");
    assert!(
        mine["served"].starts_with("slot 0 (server 127.0.0.1:"),
        "{mine:?}"
    );
    assert_same_fields(&mine, &terminal_client(&router_addr, &mine["query"]));
    assert!(
        !browser.is_displayed(&browser.by_id("message")),
        "no message after a success"
    );

    // Click 2: another address, typed into the box.
    assert_eq!(ask(&browser, "8.8.8.8", 2), "success");
    let google = shown(&browser);
    assert_eq!(
        (google["countryCode"].as_str(), google["org"].as_str()),
        ("US", "Google LLC")
    );
    assert_same_fields(&google, &terminal_client(&router_addr, "8.8.8.8"));

    // A fail answer: said in words, and nothing of the last answer stays.
    assert_eq!(ask(&browser, "10.0.0.1", 3), "fail");
    let private = shown(&browser);
    assert_eq!(
        (private["status"].as_str(), private["message"].as_str()),
        ("fail", "private range")
    );
    assert!(browser.is_displayed(&browser.by_id("message")));
    assert_same_fields(&private, &terminal_client(&router_addr, "10.0.0.1"));
    assert_eq!(
        (private["country"].as_str(), private["city"].as_str()),
        ("", "")
    );

    // The router goes down: the page says so.
    drop(router);
    assert_eq!(ask(&browser, "", 4), "fail");
    let down = shown(&browser);
    let reason = format!("cannot reach the router at {router_addr}");
    assert!(down["message"].starts_with(&reason), "{down:?}");
    assert!(browser.is_displayed(&browser.by_id("message")));
    assert_eq!(
        browser.text(&browser.by_id("note")),
        "No location: the message below says why."
    );

    // No error in the console (a missing icon or a blocked download would be one) ...
    let errors: Vec<_> = browser
        .log()
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    // ... and the log is really read: an error written now is found.
    browser.execute(
        "console.error('probe: the console log is read')",
        serde_json::json!([]),
    );
    let probe = browser.log();
    assert!(probe
        .iter()
        .any(|e| e["message"].as_str().unwrap_or("").contains("probe:")));
}

/// Regenerates the report's two screenshots of the page: `report/figures/web-page.png`, after a
/// click on its button, and `report/figures/web-page-router-down.png`, after a click with the
/// router stopped: `cargo test --test web_browser -- --ignored`.
#[test]
#[ignore = "writes report/figures/web-page*.png; run with --ignored"]
fn screenshots_for_the_report() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let (router, _, _page, url) = start_router_and_page();
    browser.open(&url);
    assert_eq!(ask(&browser, "", 1), "success");
    save_screenshot(&browser, "web-page.png");
    drop(router);
    assert_eq!(ask(&browser, "", 2), "fail");
    browser.set_window_size(640, 1000); // The message takes four more lines.
    save_screenshot(&browser, "web-page-router-down.png");
}

/// Writes the window as `report/figures/<name>`.
fn save_screenshot(browser: &Browser, name: &str) {
    let png = browser.screenshot_png();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG image");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("report/figures")
        .join(name);
    std::fs::write(&path, &png).unwrap();
    println!("wrote {} ({} bytes)", path.display(), png.len());
}
