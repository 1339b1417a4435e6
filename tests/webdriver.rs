//! The few W3C WebDriver commands the dashboard test sends to chromedriver: JSON over
//! HTTP (https://www.w3.org/TR/webdriver2/), on the `reqwest` the tests already use.

use base64::Engine;
use serde_json::{Value, json};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// One browser session of a WebDriver server.
pub struct Browser {
    http: reqwest::Client,
    /// `<server>/session/<id>`.
    session: String,
}

impl Browser {
    /// Opens a session on the WebDriver server at `server` with these capabilities.
    pub async fn open(server: &str, capabilities: Value) -> Result<Self> {
        let http = reqwest::Client::new();
        let body = json!({ "capabilities": { "alwaysMatch": capabilities } });
        let reply = send(&http, reqwest::Method::POST, &format!("{server}/session"), Some(body)).await?;
        let id = reply["sessionId"].as_str().ok_or_else(|| format!("no session id in {reply}"))?;
        Ok(Browser { http, session: format!("{server}/session/{id}") })
    }

    /// Loads `url` and waits for the page's load event.
    pub async fn goto(&self, url: &str) -> Result {
        self.command("url", json!({ "url": url })).await.map(drop)
    }

    /// Runs `script` as a function body with `args` as its `arguments`; its return value.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.command("execute/sync", json!({ "script": script, "args": args })).await
    }

    /// The page as a PNG.
    pub async fn screenshot(&self) -> Result<Vec<u8>> {
        let url = format!("{}/screenshot", self.session);
        let encoded = send(&self.http, reqwest::Method::GET, &url, None).await?;
        let encoded = encoded.as_str().ok_or("the screenshot is not a string")?;
        Ok(base64::engine::general_purpose::STANDARD.decode(encoded)?)
    }

    /// Chromium's console messages since the last call (chromedriver's log endpoint).
    pub async fn console_log(&self) -> Result<Value> {
        self.command("se/log", json!({ "type": "browser" })).await
    }

    /// Ends the session and its browser.
    pub async fn close(self) -> Result {
        send(&self.http, reqwest::Method::DELETE, &self.session, None).await.map(drop)
    }

    async fn command(&self, path: &str, body: Value) -> Result<Value> {
        send(&self.http, reqwest::Method::POST, &format!("{}/{path}", self.session), Some(body)).await
    }
}

/// Sends one command; its `value`, or the server's error as an error.
async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value> {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_string());
    }
    let response = request.send().await?;
    let status = response.status();
    let reply: Value = serde_json::from_slice(&response.bytes().await?)?;
    let value = reply.get("value").cloned().unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!("WebDriver {url} answered {status}: {}", value["message"]).into());
    }
    Ok(value)
}
