//! The interactive queue of `bot-bottle supervise`: every bottle's pending requests, refreshed
//! each second; `a` approves the selected one for the bottle's life, `o` for one request, `t`
//! for a number of minutes it asks, `w` approves for the bottle's life and writes the route into
//! the bottle file after showing the diff and asking, `e` opens the route it would grant in
//! `$VISUAL` or `$EDITOR` and approves what is saved, `r` asks for a reason and rejects, `q`
//! quits. On a request the proxy holds, `a` (or `o`) releases it once and `w` releases its rule
//! on the route for the bottle's life.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use bb_contract::InputError;
use bb_supervise::store::Stored;
use bb_supervise::{Scope, Supervise};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, List, ListItem, ListState, Paragraph, Wrap};
use ratatui::{DefaultTerminal, Frame};

use crate::supervise::{asked, describe, keep_asked, parse_route, planned_save, short};

const REFRESH: Duration = Duration::from_secs(1);
/// How often the running sidecars' proposals are copied out (one `docker cp` or `kubectl
/// exec` per bottle: over `ssh://` or to an API server that is not free).
const FETCH: Duration = Duration::from_secs(3);
const KEYS: &str = "a approve · o once · t minutes · w approve and keep in the bottle file · e edit · r reject · q quit";
/// What the keys do on a request the proxy holds.
const HOLD_KEYS: &str =
    "a held request: a release once · w release its rule for the bottle's life · r reject";

/// What the bottom line is doing.
enum Input {
    Keys,
    /// Typing the reason of a rejection of `target`.
    Reason {
        target: Box<Stored>,
        text: String,
    },
    /// Typing the minutes of a timed approval of `target`.
    Minutes {
        target: Box<Stored>,
        text: String,
    },
}

struct App {
    sup: Supervise,
    pending: Vec<Stored>,
    list: ListState,
    input: Input,
    status: String,
    /// When the proposals were last copied out of the sidecars.
    fetched: Option<std::time::Instant>,
}

pub fn run(sup: Supervise) -> Result<()> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        bail!(
            InputError::new("the interactive queue needs a terminal")
                .fix("use --once (or --json) to list, --approve ID or --reject ID --reason TEXT to answer")
        );
    }
    let mut app = App {
        sup,
        pending: Vec::new(),
        list: ListState::default(),
        input: Input::Keys,
        status: "waiting for requests from the bottles".into(),
        fetched: None,
    };
    app.refresh();
    let mut terminal = ratatui::init();
    let result = app.event_loop(&mut terminal);
    ratatui::restore();
    result
}

impl App {
    fn event_loop(&mut self, terminal: &mut DefaultTerminal) -> Result<()> {
        let mut refreshed = Instant::now();
        loop {
            terminal.draw(|f| self.draw(f))?;
            if event::poll(Duration::from_millis(200))?
                && let Event::Key(key) = event::read()?
                && key.kind == KeyEventKind::Press
                && !self.on_key(key.code, terminal)?
            {
                return Ok(());
            }
            if refreshed.elapsed() >= REFRESH {
                self.refresh();
                refreshed = Instant::now();
            }
        }
    }

    /// Handles a key; `false` ends the queue.
    fn on_key(&mut self, code: KeyCode, terminal: &mut DefaultTerminal) -> Result<bool> {
        // What is typed answers the request it was started on, whatever is selected by then.
        if let Input::Reason { text, .. } | Input::Minutes { text, .. } = &mut self.input {
            match code {
                KeyCode::Enter => match std::mem::replace(&mut self.input, Input::Keys) {
                    Input::Reason { target, text } => self.reject(&target, &text),
                    Input::Minutes { target, text } => {
                        match Scope::parse(&format!("{}m", text.trim())) {
                            Ok(scope) => {
                                self.approve(&target, None, scope);
                            }
                            Err(e) => self.status = format!("not approved: {e}"),
                        }
                    }
                    Input::Keys => {}
                },
                KeyCode::Esc => {
                    self.input = Input::Keys;
                    self.status = "nothing answered".into();
                }
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Char(c) => text.push(c),
                _ => {}
            }
            return Ok(true);
        }
        match code {
            KeyCode::Char('q') | KeyCode::Esc => return Ok(false),
            KeyCode::Down | KeyCode::Char('j') => self.list.select_next(),
            KeyCode::Up | KeyCode::Char('k') => self.list.select_previous(),
            _ => {}
        }
        let Some(target) = self.selected().cloned() else {
            return Ok(true);
        };
        if target.proposal.hold.is_some() {
            self.on_hold_key(code, target);
            return Ok(true);
        }
        match code {
            KeyCode::Char('a') => {
                self.approve(&target, None, Scope::Life);
            }
            KeyCode::Char('o') => {
                self.approve(&target, None, Scope::Once);
            }
            KeyCode::Char('t') => {
                let target = Box::new(target);
                self.input = Input::Minutes {
                    target,
                    text: String::new(),
                };
            }
            KeyCode::Char('e') => self.edit_then_approve(&target, terminal)?,
            KeyCode::Char('w') => self.approve_and_keep(&target, terminal)?,
            KeyCode::Char('r') => {
                let target = Box::new(target);
                self.input = Input::Reason {
                    target,
                    text: String::new(),
                };
            }
            _ => {}
        }
        Ok(true)
    }

    /// A key on a held request: `a` or `o` releases it once, `w` releases its rule on the
    /// route for the bottle's life, `r` rejects; it has no route to edit and no minutes.
    fn on_hold_key(&mut self, code: KeyCode, target: Stored) {
        match code {
            KeyCode::Char('a' | 'o') => {
                self.approve(&target, None, Scope::Once);
            }
            KeyCode::Char('w') => {
                self.approve(&target, None, Scope::Life);
            }
            KeyCode::Char('r') => {
                self.input = Input::Reason {
                    target: Box::new(target),
                    text: String::new(),
                };
            }
            KeyCode::Char('t' | 'e') => {
                self.status = format!("{}: {HOLD_KEYS}", short(&target.proposal.id));
            }
            _ => {}
        }
    }

    fn selected(&self) -> Option<&Stored> {
        self.list.selected().and_then(|i| self.pending.get(i))
    }

    fn refresh(&mut self) {
        if self.fetched.is_none_or(|at| at.elapsed() >= FETCH) {
            self.fetched = Some(std::time::Instant::now());
            let root = self.sup.state_root().to_path_buf();
            if let Some((identity, why)) = crate::sidecar_files::fetch_proposals(&root).pop() {
                self.status = format!("cannot read the requests of {identity}: {why}");
            }
        }
        if let Err(e) = self.sup.sync() {
            self.status = format!("cannot read the bottles' requests: {e}");
        }
        let chosen = self.selected().map(|s| s.proposal.id.clone());
        match self.sup.pending() {
            Ok(pending) => self.pending = pending,
            Err(e) => self.status = format!("cannot read the store: {e}"),
        }
        let at = chosen
            .and_then(|id| self.pending.iter().position(|s| s.proposal.id == id))
            .or((!self.pending.is_empty()).then_some(0));
        self.list
            .select(at.map(|i| i.min(self.pending.len().saturating_sub(1))));
    }

    /// Approves `stored`; whether it was.
    fn approve(
        &mut self,
        stored: &Stored,
        route: Option<bb_contract::plan::Route>,
        scope: Scope,
    ) -> bool {
        let result = self.sup.approve(&stored.proposal.id, route, scope);
        let approved = result.is_ok();
        self.status = match result {
            Ok(d) => {
                let reloaded = crate::sidecar_files::deliver(&stored.identity, &d.id);
                let mut line = describe(&d, &stored.identity, stored.proposal.hold.as_ref());
                if !reloaded {
                    line.push_str(" (its sidecar is not running: it takes effect on resume)");
                }
                line
            }
            Err(e) => format!("not approved: {e}"),
        };
        self.refresh();
        approved
    }

    fn reject(&mut self, stored: &Stored, reason: &str) {
        self.status = match self.sup.reject(&stored.proposal.id, reason) {
            Ok(d) => {
                crate::sidecar_files::deliver(&stored.identity, &d.id);
                describe(&d, &stored.identity, stored.proposal.hold.as_ref())
            }
            Err(e) => format!("not rejected: {e}"),
        };
        self.refresh();
    }

    /// Outside the queue, shows the bottle-file change and asks; then approves for the
    /// bottle's life and writes the change on a yes.
    fn approve_and_keep(&mut self, stored: &Stored, terminal: &mut DefaultTerminal) -> Result<()> {
        let change = match planned_save(&self.sup, &stored.proposal.id, None) {
            Ok(c) => c,
            Err(e) => {
                self.status = format!("not approved: {e:#}");
                return Ok(());
            }
        };
        ratatui::restore();
        let keep = keep_asked(&change, false);
        *terminal = ratatui::init();
        let keep = match keep {
            Ok(keep) => keep,
            Err(e) => {
                self.status = format!("not approved: {e:#}");
                return Ok(());
            }
        };
        if !self.approve(stored, None, Scope::Life) || !keep {
            return Ok(());
        }
        let written = crate::supervise_save::write(&change);
        self.status = match written {
            Ok(()) => format!("{}; kept in {}", self.status, change.file.display()),
            Err(e) => format!("{}; the bottle file was not written: {e:#}", self.status),
        };
        Ok(())
    }

    /// The route the request would get, in the editor; what is saved is approved.
    fn edit_then_approve(&mut self, stored: &Stored, terminal: &mut DefaultTerminal) -> Result<()> {
        let route = stored.proposal.request.to_route();
        let file = tempfile::Builder::new()
            .prefix("bot-bottle-route-")
            .suffix(".json")
            .tempfile()?;
        std::fs::write(file.path(), serde_json::to_string_pretty(&route)? + "\n")?;
        ratatui::restore();
        let edited = edit(file.path());
        *terminal = ratatui::init();
        match edited.and_then(|text| parse_route(&text).map_err(anyhow::Error::msg)) {
            Ok(route) => {
                self.approve(stored, Some(route), Scope::Life);
            }
            Err(e) => self.status = format!("not approved: the edited route: {e:#}"),
        }
        Ok(())
    }

    fn draw(&mut self, frame: &mut Frame) {
        let [list_area, detail_area, status_area] = Layout::vertical([
            Constraint::Min(3),
            Constraint::Length(7),
            Constraint::Length(3),
        ])
        .areas(frame.area());
        let items: Vec<ListItem> = self.pending.iter().map(|s| ListItem::new(row(s))).collect();
        let title = format!(
            " bot-bottle supervise · {} pending · {KEYS} ",
            self.pending.len()
        );
        let list = List::new(items)
            .block(Block::bordered().title(title))
            .highlight_style(Style::new().add_modifier(Modifier::REVERSED))
            .highlight_symbol("> ");
        frame.render_stateful_widget(list, list_area, &mut self.list);
        let detail = self.selected().map(details).unwrap_or_default();
        frame.render_widget(
            Paragraph::new(detail)
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(" request ")),
            detail_area,
        );
        let bottom = match &self.input {
            Input::Reason { text, .. } => {
                format!("reason for the rejection (Enter rejects, Esc cancels): {text}")
            }
            Input::Minutes { text, .. } => {
                format!("minutes the approval lasts (Enter approves, Esc cancels): {text}")
            }
            Input::Keys => self.status.clone(),
        };
        frame.render_widget(Paragraph::new(bottom).block(Block::bordered()), status_area);
    }
}

/// One row of the queue: short id, bottle, host and what of it.
fn row(s: &Stored) -> Line<'static> {
    Line::from(format!(
        "{}  {}  {}",
        short(&s.proposal.id),
        s.identity,
        asked(&s.proposal)
    ))
}

fn details(s: &Stored) -> Vec<Line<'static>> {
    let flat = |t: &str| t.replace(['\n', '\t'], " ");
    vec![
        Line::from(format!("id {}  bottle {}", s.proposal.id, s.identity)),
        Line::from(format!(
            "asked {}  waits until {}",
            s.proposal.created_at, s.proposal.expires_at
        )),
        Line::from(format!("reason: {}", flat(&s.proposal.request.reason))),
        Line::from(if s.proposal.hold.is_some() {
            HOLD_KEYS
        } else {
            ""
        }),
    ]
}

/// Runs `$VISUAL` or `$EDITOR` (else `vi`) on `path` through the shell (as git does, so an
/// editor with arguments works); returns what was saved.
fn edit(path: &std::path::Path) -> Result<String> {
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".into());
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .status()?;
    if !status.success() {
        bail!("the editor exited with {status}");
    }
    Ok(std::fs::read_to_string(path)?)
}
