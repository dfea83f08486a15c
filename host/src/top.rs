//! `sluice top`: a terminal view of a running collector, read from its API
//! (`/api/status`, the same numbers as the status page): per component records in and out
//! per second, bytes out per second, totals, errors and discards by kind, channel fill,
//! sink retry and backoff state, plugin call p50/p99 and redactions by rule. Refreshes every second, sorts by the column a key names, works over SSH
//! (a plain terminal, no mouse), exits on `q`, Esc or Ctrl-C with the terminal restored,
//! and says plainly when it cannot reach the collector (and keeps trying).

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};
use serde::Deserialize;

/// One component as `/api/status` gives it.
#[derive(Debug, Clone, Deserialize)]
pub struct Component {
    pub name: String,
    pub section: String,
    pub kind: String,
    #[serde(default)]
    pub plugin: Option<String>,
    #[serde(default)]
    pub received_per_sec: f64,
    #[serde(default)]
    pub sent_per_sec: f64,
    #[serde(default)]
    pub received_events: f64,
    #[serde(default)]
    pub sent_events: f64,
    #[serde(default)]
    pub sent_bytes_per_sec: f64,
    #[serde(default)]
    pub channel_depth: f64,
    #[serde(default)]
    pub sink_retries: f64,
    #[serde(default)]
    pub sink_backoff_requests: f64,
    /// A sink's retry and backoff state in words (empty for other components).
    #[serde(default)]
    pub sink_state: String,
    #[serde(default)]
    pub errors: BTreeMap<String, f64>,
    #[serde(default)]
    pub discarded: BTreeMap<String, f64>,
    #[serde(default)]
    pub redactions: BTreeMap<String, f64>,
    #[serde(default)]
    pub plugin_p50_ms: Option<f64>,
    #[serde(default)]
    pub plugin_p99_ms: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Status {
    components: Vec<Component>,
}

/// What `top` was asked for.
pub struct Options {
    /// The collector's API, e.g. `http://127.0.0.1:9598`.
    pub url: String,
    /// Sent as a bearer token (a collector with `protect_metrics` wants it).
    pub token: Option<String>,
}

/// The columns, and the key that sorts by each.
const COLUMNS: [(&str, char); 12] = [
    ("component", 'n'),
    ("type", 't'),
    ("in/s", 'i'),
    ("out/s", 'o'),
    ("out", 'r'),
    ("bytes/s", 'b'),
    ("errors", 'e'),
    ("discarded", 'd'),
    ("channel", 'c'),
    ("sink state", 'y'),
    ("plugin p50/p99 ms", 'p'),
    ("redactions", 'x'),
];

fn total(m: &BTreeMap<String, f64>) -> f64 {
    m.values().sum()
}

/// Sorts `components` by column `by` (numbers largest first, names A-Z).
pub fn sort(components: &mut [Component], by: usize) {
    let key = |c: &Component| -> f64 {
        match by {
            2 => c.received_per_sec,
            3 => c.sent_per_sec,
            4 => c.sent_events,
            5 => c.sent_bytes_per_sec,
            6 => total(&c.errors),
            7 => total(&c.discarded),
            8 => c.channel_depth,
            // Backing off first, then by retries.
            9 => c.sink_backoff_requests * 1e9 + c.sink_retries,
            10 => c.plugin_p99_ms.unwrap_or(-1.0),
            11 => total(&c.redactions),
            _ => 0.0,
        }
    };
    match by {
        0 => components.sort_by(|a, b| a.name.cmp(&b.name)),
        1 => components.sort_by(|a, b| (&a.section, &a.kind).cmp(&(&b.section, &b.kind))),
        _ => components.sort_by(|a, b| key(b).total_cmp(&key(a)).then(a.name.cmp(&b.name))),
    }
}

async fn fetch(client: &reqwest::Client, options: &Options) -> Result<Vec<Component>, String> {
    let mut request = client.get(format!("{}/api/status", options.url.trim_end_matches('/')));
    if let Some(token) = &options.token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text = format!("{text}: {s}");
            source = s.source();
        }
        text
    })?;
    match response.status().as_u16() {
        200 => {}
        401 => {
            return Err(
                "401: the collector wants its API token (--token-file, or SLUICE_API_TOKEN)".into(),
            )
        }
        s => return Err(format!("answered {s} on /api/status")),
    }
    let body = response
        .text()
        .await
        .map_err(|e| format!("reading /api/status: {e}"))?;
    let status: Status =
        serde_json::from_str(&body).map_err(|e| format!("unreadable /api/status: {e}"))?;
    Ok(status.components)
}

fn kinds(m: &BTreeMap<String, f64>) -> String {
    if m.is_empty() {
        return "0".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn rate(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Runs the view until `q`, Esc or Ctrl-C.
pub fn run(options: Options) -> anyhow::Result<()> {
    // A thread polls the API every second; the view never waits on the network.
    let (tx, rx) = mpsc::channel::<Result<Vec<Component>, String>>();
    let url = options.url.clone();
    let token = options.token.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::spawn(move || {
        runtime.block_on(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .expect("an HTTP client");
            let options = Options { url, token };
            loop {
                if tx.send(fetch(&client, &options).await).is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    });

    let mut terminal = ratatui::init();
    let result = view(&mut terminal, &options.url, rx);
    ratatui::restore();
    result
}

fn view(
    terminal: &mut ratatui::DefaultTerminal,
    url: &str,
    rx: mpsc::Receiver<Result<Vec<Component>, String>>,
) -> anyhow::Result<()> {
    let mut components: Vec<Component> = Vec::new();
    let mut problem: Option<String> = Some(format!("connecting to {url} ..."));
    let mut sort_by = 0usize;
    let mut last_ok: Option<Instant> = None;
    loop {
        while let Ok(reading) = rx.try_recv() {
            match reading {
                Ok(c) => {
                    components = c;
                    problem = None;
                    last_ok = Some(Instant::now());
                }
                Err(e) => {
                    problem = Some(format!(
                        "cannot reach sluice at {url}: {e} (retrying every second)"
                    ))
                }
            }
        }
        sort(&mut components, sort_by);
        terminal.draw(|frame| {
            let [head, body, foot] = Layout::vertical([
                Constraint::Length(2),
                Constraint::Min(3),
                Constraint::Length(1),
            ])
            .areas(frame.area());
            let head_text = match &problem {
                Some(p) => Line::styled(p.clone(), Style::default().fg(Color::Red)),
                None => Line::from(format!(
                    "sluice top · {url} · {} components · updated {:.1} s ago",
                    components.len(),
                    last_ok.map_or(0.0, |t| t.elapsed().as_secs_f64())
                )),
            };
            frame.render_widget(Paragraph::new(head_text), head);
            let header = Row::new(COLUMNS.iter().enumerate().map(|(i, (name, key))| {
                let text = format!("{name} [{key}]");
                if i == sort_by {
                    Line::styled(
                        text,
                        Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
                    )
                } else {
                    Line::from(text)
                }
            }))
            .style(Style::default().add_modifier(Modifier::BOLD));
            let rows = components.iter().map(|c| {
                let plugin = match (c.plugin_p50_ms, c.plugin_p99_ms) {
                    (Some(a), Some(b)) => format!("{a:.2}/{b:.2}"),
                    _ => "-".into(),
                };
                let kind = match &c.plugin {
                    Some(p) => format!("{} {} ({p})", c.section, c.kind),
                    None => format!("{} {}", c.section, c.kind),
                };
                let bad = !c.errors.is_empty() || !c.discarded.is_empty();
                Row::new(vec![
                    c.name.clone(),
                    kind,
                    rate(c.received_per_sec),
                    rate(c.sent_per_sec),
                    format!("{}", c.sent_events),
                    rate(c.sent_bytes_per_sec),
                    kinds(&c.errors),
                    kinds(&c.discarded),
                    format!("{}", c.channel_depth),
                    if c.sink_state.is_empty() {
                        "-".to_string()
                    } else {
                        c.sink_state.clone()
                    },
                    plugin,
                    kinds(&c.redactions),
                ])
                .style(if bad {
                    Style::default().fg(Color::Red)
                } else {
                    Style::default()
                })
            });
            let widths = [
                Constraint::Min(12),
                Constraint::Length(30),
                Constraint::Length(9),
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Length(12),
                Constraint::Min(10),
                Constraint::Min(13),
                Constraint::Length(11),
                Constraint::Min(16),
                Constraint::Length(21),
                Constraint::Min(14),
            ];
            frame.render_widget(
                Table::new(rows, widths)
                    .header(header)
                    .block(Block::default().borders(Borders::TOP)),
                body,
            );
            frame.render_widget(
                Paragraph::new("q quit · the key in [ ] sorts by that column"),
                foot,
            );
        })?;
        if event::poll(Duration::from_millis(200))? {
            if let Event::Key(key) = event::read()? {
                if key.kind != KeyEventKind::Press {
                    continue;
                }
                match key.code {
                    KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
                    KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        return Ok(())
                    }
                    KeyCode::Char(c) => {
                        if let Some(i) = COLUMNS.iter().position(|(_, k)| *k == c) {
                            sort_by = i;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, in_rate: f64, errors: f64) -> Component {
        Component {
            name: name.into(),
            section: "transform".into(),
            kind: "wasm".into(),
            plugin: None,
            received_per_sec: in_rate,
            sent_per_sec: 0.0,
            received_events: 0.0,
            sent_events: 0.0,
            sent_bytes_per_sec: 0.0,
            channel_depth: 0.0,
            sink_retries: 0.0,
            sink_backoff_requests: 0.0,
            sink_state: String::new(),
            errors: if errors > 0.0 {
                BTreeMap::from([("trap".into(), errors)])
            } else {
                BTreeMap::new()
            },
            discarded: BTreeMap::new(),
            redactions: BTreeMap::new(),
            plugin_p50_ms: None,
            plugin_p99_ms: None,
        }
    }

    #[test]
    fn sorts_by_the_column_asked_for() {
        let mut v = vec![c("b", 1.0, 0.0), c("a", 5.0, 0.0), c("c", 3.0, 2.0)];
        sort(&mut v, 0);
        assert_eq!(
            v.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        sort(&mut v, 2);
        assert_eq!(
            v.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["a", "c", "b"]
        );
        sort(&mut v, 6);
        assert_eq!(v[0].name, "c");
    }
}
