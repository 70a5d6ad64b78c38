//! `bot-bottle supervise`: the operator's queue of every bottle's requests for more access.
//! Interactive on a terminal ([`crate::supervise_tui`]); `--once` prints the pending requests,
//! `--approve ID` and `--reject ID --reason TEXT` answer one from a script. Every action first
//! imports what the bottles filed ([`bb_supervise::Supervise::sync`]).

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use bb_contract::InputError;
use bb_contract::plan::Route;
use bb_contract::supervise::{Decision, Hold, Proposal, Verdict};
use bb_supervise::Supervise;
use bb_supervise::store::Stored;

use crate::cli::SuperviseArgs;

pub fn run(args: &SuperviseArgs) -> Result<()> {
    let home = bb_core::paths::home()?;
    let state_root = bb_core::paths::state_root(&home);
    let mut sup = Supervise::open(&home, &state_root).map_err(typed)?;
    for (identity, why) in crate::sidecar_files::fetch_proposals(&state_root) {
        eprintln!("bot-bottle: supervise: cannot read the requests of {identity}: {why}");
    }
    let report = sup.sync().map_err(typed)?;
    for path in &report.skipped {
        eprintln!(
            "bot-bottle: supervise: {} is no proposal; skipped",
            path.display()
        );
    }
    if let Some(id) = &args.approve {
        let route = args.route.as_deref().map(read_route).transpose()?;
        let id = sup.resolve(id).map_err(typed)?;
        let held = stored(&sup, &id)?.proposal.hold.is_some();
        let scope = args.grant.unwrap_or(if held {
            bb_supervise::Scope::Once
        } else {
            bb_supervise::Scope::Life
        });
        let save = if args.save {
            if held {
                return Err(InputError::new(
                    "--save keeps a route in the bottle file; a held request has none",
                )
                .fix("drop --save (--grant life releases the rule for the bottle's life)")
                .into());
            }
            if scope != bb_supervise::Scope::Life {
                return Err(
                    InputError::new("--save writes a route for the bottle's life")
                        .fix("drop --grant, or --save")
                        .into(),
                );
            }
            let change = planned_save(&sup, &id, route.as_ref())?;
            keep_asked(&change, args.yes)?.then_some(change)
        } else {
            None
        };
        let decision = sup.approve(&id, route, scope).map_err(typed)?;
        answered(&sup, &decision, args.json)?;
        if let Some(change) = save {
            crate::supervise_save::write(&change)?;
            eprintln!("bot-bottle: supervise: wrote {}", change.file.display());
        }
        return Ok(());
    }
    if let (Some(id), Some(reason)) = (&args.reject, &args.reason) {
        let id = sup.resolve(id).map_err(typed)?;
        let decision = sup.reject(&id, reason).map_err(typed)?;
        return answered(&sup, &decision, args.json);
    }
    if args.once || args.json {
        return print_pending(&sup.pending().map_err(typed)?, args.json);
    }
    crate::supervise_tui::run(sup)
}

/// The bottle-file change that keeps the route proposal `id` asks for (or `edited`).
pub fn planned_save(
    sup: &Supervise,
    id: &str,
    edited: Option<&Route>,
) -> Result<crate::supervise_save::Change> {
    let stored = stored(sup, id)?;
    let route = edited
        .cloned()
        .unwrap_or_else(|| stored.proposal.request.to_route());
    crate::supervise_save::plan_change(&stored.identity, &route)
}

/// The stored proposal `id`.
pub fn stored(sup: &Supervise, id: &str) -> Result<Stored> {
    sup.store()
        .get(id)
        .map_err(|e| typed(e.into()))?
        .ok_or_else(|| typed(bb_supervise::Error::NoSuchProposal(id.into())))
}

/// Shows the change as a diff and asks whether to write it (`yes`: without asking). Asked
/// before the approval, so a missing terminal leaves nothing half-made.
pub fn keep_asked(change: &crate::supervise_save::Change, yes: bool) -> Result<bool> {
    eprint!("{}", crate::supervise_save::diff(change));
    let question = format!(
        "approve, and write this change to {}? (no: approve only) [y/N] ",
        change.file.display()
    );
    Ok(yes || crate::tty::ask(&question, "--yes writes without asking")?)
}

/// An operator's mistake (unknown id, answered twice, expired) exits 2; the rest 1.
pub fn typed(e: bb_supervise::Error) -> anyhow::Error {
    if e.is_input() {
        InputError::new(e.to_string()).into()
    } else {
        anyhow::Error::new(e)
    }
}

/// A route from a JSON file (`-`: stdin), as `--route` gives it.
fn read_route(path: &Path) -> Result<Route> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    }
    parse_route(&text).map_err(|e| {
        InputError::new(format!("--route: not a route: {e}"))
            .in_file(path)
            .into()
    })
}

/// A route as JSON (the one a request proposes, as `--once --json` and the editor show it).
pub fn parse_route(text: &str) -> Result<Route, String> {
    let route: Route = serde_json::from_str(text).map_err(|e| e.to_string())?;
    bb_contract::supervise::check_route(route)
}

/// Carries a decision into the bottle and reports it.
fn answered(sup: &Supervise, decision: &Decision, json: bool) -> Result<()> {
    let identity = sup.identity_of(&decision.id).map_err(typed)?;
    if !crate::sidecar_files::deliver(&identity, &decision.id) && decision.route.is_some() {
        eprintln!(
            "bot-bottle: supervise: the sidecar of {identity} is not running; the route takes effect when the bottle is resumed"
        );
    }
    if json {
        let mut value = serde_json::to_value(decision)?;
        value["identity"] = identity.into();
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        let hold = stored(sup, &decision.id)?.proposal.hold;
        println!("{}", describe(decision, &identity, hold.as_ref()));
    }
    Ok(())
}

/// One line about a decision (`hold`: the held request it answers).
pub fn describe(decision: &Decision, identity: &str, hold: Option<&Hold>) -> String {
    let id = short(&decision.id);
    match (decision.verdict, &decision.route, hold) {
        (Verdict::Rejected, ..) => format!(
            "rejected {id} for {identity}: {}",
            decision.reason.as_deref().unwrap_or("")
        ),
        (Verdict::Approved, None, Some(_)) => {
            format!(
                "released {id} for {identity}: the held request goes on unless another finding holds it (once)"
            )
        }
        (Verdict::Approved, Some(route), Some(hold)) => format!(
            "released {id} for {identity}: {} no longer holds requests to {} for the bottle's life",
            hold.rule, route.host
        ),
        (Verdict::Approved, Some(route), None) => format!(
            "approved {id} for {identity}: {} is reachable now ({}; {})",
            route.host,
            route_scope(route),
            lasting(route)
        ),
        (Verdict::Approved, None, None) => format!("approved {id} for {identity}"),
    }
}

fn print_pending(pending: &[Stored], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(pending)?);
        return Ok(());
    }
    if pending.is_empty() {
        println!("no pending requests");
    }
    for s in pending {
        println!("{}", summary(s));
        let label = if s.proposal.hold.is_some() {
            "held"
        } else {
            "reason"
        };
        println!(
            "    {label}: {}",
            s.proposal.request.reason.replace('\n', "\n            ")
        );
    }
    Ok(())
}

/// `ID  BOTTLE  HOST  [paths] [methods]  until TIME`.
pub fn summary(s: &Stored) -> String {
    format!(
        "{}  {}  {}  (waits until {})",
        s.proposal.id,
        s.identity,
        asked(&s.proposal),
        s.proposal.expires_at
    )
}

/// What a proposal asks for: `HOST[ paths P,...][ methods M,...]`, or for a held request
/// `held METHOD HOST[PATH] (RULE in PART)`.
pub fn asked(p: &Proposal) -> String {
    let r = &p.request;
    if let Some(hold) = &p.hold {
        let path = hold.path.as_deref().unwrap_or("");
        let route = if hold.route == r.host {
            String::new()
        } else {
            format!("; route {}", hold.route)
        };
        return format!(
            "held {} {}{path} ({} in {}{route})",
            hold.method, r.host, hold.rule, hold.part
        );
    }
    let mut text = r.host.clone();
    if !r.paths.is_empty() {
        text.push_str(&format!(" paths {}", r.paths.join(",")));
    }
    if !r.methods.is_empty() {
        text.push_str(&format!(" methods {}", r.methods.join(",")));
    }
    text
}

/// How long a granted route lasts.
fn lasting(route: &Route) -> String {
    match &route.grant {
        None => "for the bottle's life".into(),
        Some(g) => match (&g.uses, &g.expires_at) {
            (Some(1), _) => "for one request".into(),
            (Some(n), _) => format!("for {n} requests"),
            (None, Some(t)) => format!("until {t}"),
            (None, None) => "for the bottle's life".into(),
        },
    }
}

fn route_scope(route: &Route) -> String {
    if route.matches.is_empty() {
        return "every path and method".into();
    }
    route
        .matches
        .iter()
        .map(|m| {
            let paths: Vec<&str> = m.paths.iter().map(|p| p.value.as_str()).collect();
            let paths = if paths.is_empty() {
                "every path".into()
            } else {
                paths.join(",")
            };
            let methods = if m.methods.is_empty() {
                "every method".into()
            } else {
                m.methods.join(",")
            };
            format!("{paths} / {methods}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Today's date (UTC), `YYYY-MM-DD`.
pub fn today() -> String {
    let d = time::OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

pub fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}
