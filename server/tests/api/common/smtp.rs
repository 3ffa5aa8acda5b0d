//! A real SMTP server for the mail tests: `server/tests/smtp_sink.py`
//! (aiosmtpd) as a child process on a free port, writing every delivered
//! message to a folder as JSON with both decoded bodies. Its Python is
//! `SMTP_SINK_PYTHON` (scripts/test.sh), else `.tools/smtp-venv` (made by
//! `scripts/setup.sh --test`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const MAIL_FROM: &str = "Phonebooth <calls@phonebooth.test>";

pub struct SmtpSink {
    child: Child,
    pub port: u16,
    out: tempfile::TempDir,
}

/// One delivered message as the sink decoded it.
#[derive(Debug, serde::Deserialize)]
pub struct Delivered {
    pub rcpt_tos: Vec<String>,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub text: Option<String>,
    pub html: Option<String>,
}

fn python() -> PathBuf {
    std::env::var_os("SMTP_SINK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/smtp-venv/bin/python")
        })
}

impl SmtpSink {
    /// Accepts every delivery.
    pub fn start() -> Self {
        Self::refusing(0, 250)
    }

    /// Refuses the first `refuse` deliveries with `code` (4xx: try again;
    /// 5xx: for good), then accepts.
    pub fn refusing(refuse: u32, code: u16) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = tempfile::tempdir().unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.py");
        let mut child = Command::new(python())
            .arg(&script)
            .args(["--port", &port.to_string()])
            .arg("--out")
            .arg(out.path())
            .args(["--refuse", &refuse.to_string(), "--code", &code.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the SMTP sink starts (scripts/setup.sh --test installs aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("ready"),
            "the SMTP sink did not start: {line:?}"
        );
        Self { child, port, out }
    }

    /// The settings that send the app's mail here.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SMTP_URL", format!("smtp://127.0.0.1:{}", self.port)),
            ("MAIL_FROM", MAIL_FROM.to_owned()),
        ]
    }

    /// The messages delivered so far, in order.
    pub fn delivered(&self) -> Vec<Delivered> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.out.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
            .collect()
    }

    /// Waits (up to 30 s) until `count` messages were delivered; returns them.
    pub async fn wait_for(&self, count: usize) -> Vec<Delivered> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let delivered = self.delivered();
            if delivered.len() >= count {
                return delivered;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} messages delivered after 30 s",
                delivered.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
