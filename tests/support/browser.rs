//! The lab page in a real browser: Debian's headless Chromium, driven by Playwright (playwright-core) through
//! `tests/browser/drive.js` one command at a time, and readers for the page state it reports.
//!
//! `scripts/install-browser.sh` installs Chromium and playwright-core when they are missing; if that fails,
//! the test fails loudly: it is never skipped. Screenshots are saved under `target/page/`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long to wait for the page to show something: consumers on Tansu take a few seconds to rebalance.
pub const WAIT: Duration = Duration::from_secs(20);

/// The crate's directory (scripts, `tests/browser` and `target` are found from here).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Installs Chromium and playwright-core (once per test run), failing loudly when that is not possible.
pub fn install_browser() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let status = Command::new("bash")
            .arg(project_root().join("scripts/install-browser.sh"))
            .status()
            .expect("running scripts/install-browser.sh");
        assert!(
            status.success(),
            "installing the browser test's tools failed ({status}); see the output above"
        );
    });
}

/// Headless Chromium behind `tests/browser/drive.js`; closed when dropped.
pub struct Browser {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// Put before every screenshot's name (e.g. the broker the test runs on).
    pub screenshot_prefix: String,
}

impl Browser {
    /// Installs the browser if needed and starts `drive.js`, which launches Chromium.
    pub fn start() -> Self {
        install_browser();
        let dir = project_root().join("tests/browser");
        let mut child = Command::new("node")
            .arg(dir.join("drive.js"))
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting node tests/browser/drive.js (is Node.js installed?)");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("drive.js stdout"));
        Self {
            child,
            stdin,
            stdout,
            screenshot_prefix: String::new(),
        }
    }

    /// Runs one command in the browser and returns its result; panics with the browser's error.
    pub fn run(&mut self, command: Value) -> Value {
        let stdin = self.stdin.as_mut().expect("browser closed");
        writeln!(stdin, "{command}").expect("writing to drive.js");
        stdin.flush().expect("writing to drive.js");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("reading from drive.js");
        assert!(!line.is_empty(), "drive.js exited while running {command}");
        let answer: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("drive.js said {line:?}: {e}"));
        assert!(
            answer["ok"] == true,
            "the browser failed to run {command}: {}",
            answer["error"]
        );
        answer["result"].clone()
    }

    /// Opens `url` in a new tab of `width` x `height` pixels, which the next commands use.
    pub fn open(&mut self, url: &str, width: u32, height: u32) {
        self.run(json!({"cmd": "open", "url": url, "width": width, "height": height}));
    }

    /// Clicks the element matching `selector`, `times` times.
    pub fn click(&mut self, selector: &str, times: u32) {
        self.run(json!({"cmd": "click", "selector": selector, "times": times}));
    }

    /// What the page shows now (see `pageState` in `drive.js`).
    pub fn state(&mut self) -> Value {
        self.run(json!({"cmd": "state"}))
    }

    /// Saves a screenshot as `target/page/<name>.png` and returns its path.
    pub fn screenshot(&mut self, name: &str, full_page: bool) -> PathBuf {
        let dir = project_root().join("target/page");
        std::fs::create_dir_all(&dir).expect("creating target/page");
        let path = dir.join(format!("{}{name}.png", self.screenshot_prefix));
        self.run(json!({"cmd": "screenshot", "path": path, "fullPage": full_page}));
        path
    }

    /// Reads the page every 200 ms until `check` holds; on timeout, fails showing what the page showed.
    pub async fn wait_until(&mut self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let state = self.state();
            if check(&state) {
                return state;
            }
            assert!(
                start.elapsed() < WAIT,
                "timed out after {WAIT:?} waiting for the page to show {what}; it shows:\n{}",
                summary(&state)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        drop(self.stdin.take()); // drive.js closes the browser and exits at the end of its input
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The page's state, short enough to read in a failure message.
pub fn summary(state: &Value) -> String {
    let mut out = format!(
        "producer: {}, send disabled: {}, {}\n",
        state["producer"], state["sendDisabled"], state["sent"]
    );
    for panel in panels(state) {
        out += &format!(
            "  {} {} {} | {} | {} | ids {:?} | markers {}\n",
            panel["url"],
            panel["status"],
            panel["group"],
            panel["partitions"],
            panel["generation"],
            ids(panel),
            panel["markers"]
        );
    }
    out + &format!("  page errors: {}", state["pageErrors"])
}

/// The consumer panels, in the order shown.
pub fn panels(state: &Value) -> &[Value] {
    state["consumers"].as_array().map(Vec::as_slice).unwrap_or_default()
}

/// The panel for the consumer at `url`; panics showing the page's state when there is none.
pub fn panel<'a>(state: &'a Value, url: &str) -> &'a Value {
    panels(state)
        .iter()
        .find(|p| p["url"] == url)
        .unwrap_or_else(|| panic!("no panel for {url}:\n{}", summary(state)))
}

/// The events a panel shows, in the order shown (newest first).
pub fn events(panel: &Value) -> &[Value] {
    panel["events"].as_array().map(Vec::as_slice).unwrap_or_default()
}

/// The event ids a panel shows, in the order shown (newest first).
pub fn ids(panel: &Value) -> Vec<i64> {
    events(panel).iter().filter_map(|e| e["id"].as_i64()).collect()
}

/// The event ids in `range` that a panel shows.
pub fn id_set(panel: &Value, range: std::ops::RangeInclusive<i64>) -> BTreeSet<i64> {
    ids(panel).into_iter().filter(|id| range.contains(id)).collect()
}

/// The partitions a panel says its consumer owns, read from its text ("owns P0 P1 of 2").
pub fn owned(panel: &Value) -> BTreeSet<i64> {
    panel["partitions"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|word| word.strip_prefix('P')?.parse().ok())
        .collect()
}

/// Whether a panel says its consumer is Online in `group`.
pub fn is_online_in(panel: &Value, group: &str) -> bool {
    panel["status"] == "Online" && panel["group"] == group
}
