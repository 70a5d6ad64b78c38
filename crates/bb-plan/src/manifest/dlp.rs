//! A route's `dlp` key, and the route keys of the original project that set the same things
//! (`outbound_detectors`, `inbound_detectors`, `outbound_on_match`,
//! `naive_injection_detection`): accepted, with a one-line hint naming the new key, so a bottle
//! ported from it works on first try.

use bb_contract::InputError;
use bb_contract::plan::{InboundDetector, OnMatch, OutboundDetector, PersonalData};

use super::bottle::DlpSpec;
use super::walk::{Ctx, Entries, get, index, join};
use super::yaml::{Node, Value};

const DLP_KEYS: &[&str] = &["outbound", "inbound", "on_match", "personal_data"];

/// The original project's route keys, and the key that replaces each.
pub const LEGACY: &[(&str, &str)] = &[
    ("outbound_detectors", "dlp.outbound"),
    ("inbound_detectors", "dlp.inbound"),
    ("outbound_on_match", "dlp.on_match"),
    ("naive_injection_detection", "dlp.inbound"),
];

/// The route's `dlp` settings: its `dlp` key, then the legacy keys (each hinted on stderr).
/// A setting given both ways is refused: which one wins would be a guess.
pub fn parse_route_dlp(
    ctx: &Ctx,
    entries: &Entries,
    base: &str,
) -> Result<Option<DlpSpec>, InputError> {
    let mut spec = get(entries, "dlp")
        .map(|n| parse_dlp(ctx, n, &join(base, "dlp")))
        .transpose()?;
    for (old, new) in LEGACY {
        let Some(n) = get(entries, old) else {
            continue;
        };
        let path = join(base, old);
        let dlp = spec.get_or_insert_with(DlpSpec::default);
        let taken = match *old {
            "outbound_detectors" => dlp.outbound.replace(outbound(ctx, n, &path)?).is_some(),
            "inbound_detectors" => dlp.inbound.replace(inbound(ctx, n, &path)?).is_some(),
            "outbound_on_match" => dlp.on_match.replace(on_match(ctx, n, &path)?).is_some(),
            _ => {
                let on = ctx.bool(n, &path)?;
                let detectors = if on {
                    vec![InboundDetector::Injection]
                } else {
                    Vec::new()
                };
                dlp.inbound.replace(detectors).is_some()
            }
        };
        if taken {
            return Err(ctx
                .error(n.line, &path, format!("sets what `{new}` already sets"))
                .fix(format!("keep only `{new}`")));
        }
        let hint = format!(
            "the original project's name; write `{}` (read as that now)",
            join(base, new)
        );
        eprintln!("bb-plan: hint: {}", ctx.error(n.line, &path, hint));
    }
    Ok(spec)
}

fn parse_dlp(ctx: &Ctx, node: &Node, base: &str) -> Result<DlpSpec, InputError> {
    let entries = ctx.map(node, base)?;
    ctx.check_keys(entries, base, DLP_KEYS)?;
    let mut spec = DlpSpec::default();
    if let Some(n) = get(entries, "outbound") {
        spec.outbound = Some(outbound(ctx, n, &join(base, "outbound"))?);
    }
    if let Some(n) = get(entries, "inbound") {
        spec.inbound = Some(inbound(ctx, n, &join(base, "inbound"))?);
    }
    if let Some(n) = get(entries, "on_match") {
        spec.on_match = Some(on_match(ctx, n, &join(base, "on_match"))?);
    }
    if let Some(n) = get(entries, "personal_data") {
        spec.personal_data = Some(personal_data(ctx, n, &join(base, "personal_data"))?);
    }
    Ok(spec)
}

fn personal_data(ctx: &Ctx, n: &Node, path: &str) -> Result<PersonalData, InputError> {
    const ALLOWED: [&str; 4] = ["block", "redact", "warn", "off"];
    let name = ctx.string(n, path)?;
    match name.as_str() {
        "block" => Ok(PersonalData::Block),
        "redact" => Ok(PersonalData::Redact),
        "warn" => Ok(PersonalData::Warn),
        "off" => Ok(PersonalData::Off),
        other => {
            let fix = match super::walk::did_you_mean(other, ALLOWED) {
                Some(g) => format!("did you mean `{g}`? (block, redact, warn or off)"),
                None => "use `block`, `redact`, `warn` or `off`".to_string(),
            };
            Err(ctx
                .error(n.line, path, format!("unknown action `{other}`"))
                .fix(fix))
        }
    }
}

fn outbound(ctx: &Ctx, n: &Node, path: &str) -> Result<Vec<OutboundDetector>, InputError> {
    detector_list(
        ctx,
        n,
        path,
        |name| match name {
            "token_patterns" => Some(OutboundDetector::TokenPatterns),
            "known_secrets" => Some(OutboundDetector::KnownSecrets),
            "entropy" => Some(OutboundDetector::Entropy),
            _ => None,
        },
        "token_patterns, known_secrets, entropy",
    )
}

fn inbound(ctx: &Ctx, n: &Node, path: &str) -> Result<Vec<InboundDetector>, InputError> {
    detector_list(
        ctx,
        n,
        path,
        |name| match name {
            "injection" => Some(InboundDetector::Injection),
            _ => None,
        },
        "injection",
    )
}

fn on_match(ctx: &Ctx, n: &Node, path: &str) -> Result<OnMatch, InputError> {
    match ctx.string(n, path)?.as_str() {
        "block" => Ok(OnMatch::Block),
        "redact" => Ok(OnMatch::Redact),
        "supervise" => Ok(OnMatch::Supervise),
        other => Err(ctx
            .error(n.line, path, format!("unknown action `{other}`"))
            .fix("use `block`, `redact` or `supervise`")),
    }
}

fn detector_list<T: PartialEq>(
    ctx: &Ctx,
    node: &Node,
    path: &str,
    lookup: impl Fn(&str) -> Option<T>,
    allowed: &str,
) -> Result<Vec<T>, InputError> {
    if node.value == Value::Bool(false) {
        return Ok(Vec::new());
    }
    if !matches!(node.value, Value::Seq(_)) {
        return Err(ctx
            .error(
                node.line,
                path,
                format!(
                    "expected a list of detectors or false, found {}",
                    node.value.kind()
                ),
            )
            .fix(format!("detectors: {allowed}")));
    }
    let mut out = Vec::new();
    for (i, name) in ctx.string_list(node, path)?.iter().enumerate() {
        let detector = lookup(name).ok_or_else(|| {
            let guess = super::walk::did_you_mean(name, allowed.split(", "));
            let fix = match guess {
                Some(g) => format!("did you mean `{g}`? (detectors: {allowed})"),
                None => format!("detectors: {allowed}"),
            };
            ctx.error(
                node.line,
                &index(path, i),
                format!("unknown detector `{name}`"),
            )
            .fix(fix)
        })?;
        if !out.contains(&detector) {
            out.push(detector);
        }
    }
    Ok(out)
}
