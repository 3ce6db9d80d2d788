//! A small blocking WebDriver client, for the browser tests: WebDriver (the W3C standard that
//! browsers are driven by) is JSON over HTTP, so `ureq` and `serde_json`, which the library
//! uses already, are all it takes to drive Chromium through `chromedriver`.
//!
//! [`Browser::start`] finds `chromedriver` and Chromium on the `PATH`, starts `chromedriver` on
//! a free port and opens one headless session with a fresh profile; dropping the [`Browser`]
//! ends the session and stops `chromedriver`. Each method is one WebDriver command.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How to install what the browser tests need, for the line they print when they skip.
pub const INSTALL: &str = "apt-get install chromium chromium-driver";

/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Chromium's names on the `PATH` (Debian's `chromium`, Ubuntu's `chromium-browser`, Google's).
const BROWSERS: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// A headless Chromium, driven through its own `chromedriver`.
pub struct Browser {
    driver: Child,
    agent: ureq::Agent,
    /// `http://127.0.0.1:<port>/session/<id>`: every command's URL starts with it.
    session: String,
    profile: PathBuf,
}

/// An element of the page, as WebDriver names it.
pub struct Element(String);

/// The first file called `name` in a folder of the `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(&file))
        .find(|p| p.is_file())
}

impl Browser {
    /// Starts `chromedriver` and a headless Chromium with a window of `width` x `height`;
    /// `Err` says what is not installed. Anything else that fails is a test failure.
    pub fn start(width: u32, height: u32) -> Result<Browser, String> {
        let Some(driver) = on_path("chromedriver") else {
            return Err(format!(
                "no chromedriver on the PATH; install one: {INSTALL}"
            ));
        };
        let Some(chromium) = BROWSERS.iter().find_map(|name| on_path(name)) else {
            return Err(format!("no Chromium on the PATH; install one: {INSTALL}"));
        };
        let mut driver = Command::new(driver)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let port = read_port(&mut driver);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            // A WebDriver error comes with a 4xx or 5xx status and a JSON body that says why.
            .http_status_as_error(false)
            .build()
            .into();
        let profile = crate::common::temp_dir("chromium-profile");
        let args = [
            "--headless".to_string(),
            // Root in a container has no sandbox to offer, and no GPU.
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            // Nothing but the page: no updates, no sync, no first-run screens, no network of
            // its own (the machine may have none).
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            format!("--user-data-dir={}", profile.display()),
            format!("--window-size={width},{height}"),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let mut browser = Browser {
            driver,
            agent,
            session: format!("http://127.0.0.1:{port}/session"),
            profile,
        };
        let created = browser.command("POST", "", Some(capabilities));
        let id = created["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        browser.session = format!("{}/{id}", browser.session);
        Ok(browser)
    }

    /// One command: `method` on the session's URL plus `path`, with `body` as JSON; the
    /// answer's `value`. A WebDriver error fails the test, with its message.
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        let sent = match method {
            "GET" => self.agent.get(&url).call(),
            "DELETE" => self.agent.delete(&url).call(),
            _ => {
                let body = body.unwrap_or_else(|| json!({})).to_string();
                self.agent
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .send(&body)
            }
        };
        let mut response = sent.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let text = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string();
        let text = text.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let mut answer: Value = serde_json::from_str(&text).expect("WebDriver answers JSON");
        let value = answer["value"].take();
        if let Some(error) = value.get("error") {
            panic!("{method} {path}: {error}: {}", value["message"]);
        }
        value
    }

    /// Opens `url` and waits until the page has loaded.
    pub fn open(&self, url: &str) {
        self.command("POST", "/url", Some(json!({"url": url})));
    }

    /// Resizes the window (the page's view is smaller by the window's frame).
    pub fn set_window_size(&self, width: u32, height: u32) {
        self.command(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    /// The element with this `id`.
    pub fn by_id(&self, id: &str) -> Element {
        let found = self.command(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": format!("#{id}")})),
        );
        Element(
            found[ELEMENT]
                .as_str()
                .unwrap_or_else(|| panic!("not an element: {found}"))
                .to_string(),
        )
    }

    /// Clicks `element`, as a person would.
    pub fn click(&self, element: &Element) {
        self.command("POST", &format!("/element/{}/click", element.0), None);
    }

    /// Empties the text box `element` and types `text` into it.
    pub fn type_into(&self, element: &Element, text: &str) {
        self.command("POST", &format!("/element/{}/clear", element.0), None);
        self.command(
            "POST",
            &format!("/element/{}/value", element.0),
            Some(json!({"text": text})),
        );
    }

    /// The text of `element` as the page shows it ("" for a hidden one).
    pub fn text(&self, element: &Element) -> String {
        let text = self.command("GET", &format!("/element/{}/text", element.0), None);
        text.as_str().expect("a text").to_string()
    }

    /// True when `element` is shown.
    pub fn is_displayed(&self, element: &Element) -> bool {
        let shown = self.command("GET", &format!("/element/{}/displayed", element.0), None);
        shown.as_bool().expect("true or false")
    }

    /// Runs `script` in the page with `args`, and returns what it returns.
    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Runs `script` in the page with `args` and a last argument, a function that the script
    /// calls with its result when it is done; returns that result (at most 30 s later).
    pub fn execute_async(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "/execute/async",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// The browser's console and network log since the last call: `{level, message, ...}`.
    pub fn log(&self) -> Vec<Value> {
        let entries = self.command("POST", "/se/log", Some(json!({"type": "browser"})));
        entries.as_array().expect("a list of log entries").clone()
    }

    /// The window as a PNG image.
    pub fn screenshot_png(&self) -> Vec<u8> {
        let text = self.command("GET", "/screenshot", None);
        base64_decoded(text.as_str().expect("a base64 image"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session (and Chromium), then stops our chromedriver.
        let _ = self.agent.delete(&self.session).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Reads chromedriver's port from its line "ChromeDriver was started successfully on port N.".
fn read_port(driver: &mut Child) -> u16 {
    let stdout = driver.stdout.take().expect("chromedriver's output");
    let (port_tx, port) = mpsc::channel();
    // Reads chromedriver's output to its end, so that it never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let found = line.split("started successfully on port ").nth(1);
            if let Some(port) =
                found.and_then(|rest| rest.trim_end_matches('.').parse::<u16>().ok())
            {
                let _ = port_tx.send(port);
            }
        }
    });
    port.recv_timeout(Duration::from_secs(30))
        .expect("chromedriver says which port it listens on")
}

/// Standard base64 (screenshots come in it), decoded.
fn base64_decoded(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {:?}", c as char),
    };
    let (mut bytes, mut bits, mut count) = (Vec::new(), 0u32, 0);
    for c in text
        .bytes()
        .filter(|&c| c != b'=' && !c.is_ascii_whitespace())
    {
        bits = (bits << 6) | u32::from(value(c));
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    bytes
}
