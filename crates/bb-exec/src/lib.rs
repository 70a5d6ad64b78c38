//! Stage 6: the agent command, run in the agent as `node`: in its container (`docker exec`) or,
//! for a bottle on Kubernetes, in its pod (`kubectl exec`).
//!
//! The command line is the provider's command, its bypass flag (the bottle is the boundary), the
//! prompt flag (the prompt is read from the file inside the container, so it never appears in a
//! host process's argv), the bottle's `startup_args`, then the resume flag or one headless turn.

use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};
use bb_contract::Plan;
use bb_core::agent_exec::{AgentAt, Input};

pub use bb_contract::layout::agent::PROMPT_FILE;

/// How to run the agent.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// One non-interactive turn with this prompt.
    pub headless: Option<String>,
    /// Continue the previous conversation.
    pub resume: bool,
    /// Attach a TTY (`docker exec -it`).
    pub tty: bool,
    /// Give the agent `/dev/tty` as stdin (when our stdin is the plan pipe).
    pub stdin_from_tty: bool,
}

/// Single-quotes `s` for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The shell script run in the container: `exec` of the agent command.
pub fn script(plan: &Plan, options: &Options, has_prompt: bool) -> String {
    let p = &plan.provider;
    let mut words: Vec<String> = Vec::new();
    let mut push = |args: &[String]| {
        for arg in args {
            let word = match arg.as_str() {
                "{prompt_text}" => format!("\"$(cat {})\"", sh_quote(PROMPT_FILE)),
                "{prompt}" => sh_quote(options.headless.as_deref().unwrap_or("")),
                other => sh_quote(&other.replace("{prompt_file}", PROMPT_FILE)),
            };
            words.push(word);
        }
    };
    push(&p.command);
    push(&p.bypass_args);
    if has_prompt {
        push(&p.prompt_args);
    }
    push(&p.startup_args);
    match (options.resume, options.headless.is_some()) {
        (true, true) => push(&p.headless_resume_args),
        (true, false) => push(&p.resume_args),
        (false, true) => push(&p.headless_args),
        (false, false) => {}
    }
    format!("exec {}", words.join(" "))
}

/// The program and arguments (`docker exec …` or `kubectl exec …`).
pub fn argv(plan: &Plan, options: &Options, has_prompt: bool) -> Result<Vec<String>> {
    let workdir = plan
        .workspace
        .as_ref()
        .map(|w| w.container_path.display().to_string());
    let input = match (options.headless.is_some(), options.tty) {
        (true, _) => Input::Closed,
        (false, true) => Input::Terminal,
        (false, false) => Input::Piped,
    };
    AgentAt::of(plan)?.argv(
        &script(plan, options, has_prompt),
        input,
        workdir.as_deref(),
    )
}

/// The turn's flags of `bb-exec` and `bb-kube exec`.
#[derive(Debug, Clone, clap::Args)]
pub struct TurnArgs {
    /// Run one non-interactive turn (needs --prompt)
    #[arg(long, requires = "prompt")]
    pub headless: bool,
    /// The prompt of the headless turn
    #[arg(long, value_name = "TEXT", requires = "headless")]
    pub prompt: Option<String>,
    /// Continue the previous conversation (the provider's resume flag)
    #[arg(long)]
    pub resume: bool,
}

/// Runs the agent of a provisioned plan and returns its status (`bb-exec`, `bb-kube exec`):
/// one headless turn with `--prompt`, else interactive, with a TTY when stdin is one or, when
/// stdin is the plan's pipe, the terminal reopened.
pub fn run(plan: &Plan, turn: &TurnArgs) -> Result<i32> {
    let (prompt, resume) = (turn.prompt.clone(), turn.resume);
    use std::io::IsTerminal;
    plan.provision.as_ref().ok_or_else(|| {
        bb_contract::InputError::new("the plan has no `provision` section")
            .key("provision")
            .fix("run bb-provision first")
    })?;
    let interactive = prompt.is_none();
    let stdin_is_tty = std::io::stdin().is_terminal();
    // In `… | bb-exec` stdin is the plan pipe; the agent gets the terminal instead.
    let stdin_from_tty = interactive && !stdin_is_tty && std::fs::File::open("/dev/tty").is_ok();
    let options = Options {
        headless: prompt,
        resume,
        tty: interactive && (stdin_is_tty || stdin_from_tty),
        stdin_from_tty,
    };
    let mut child = spawn(plan, &options)?;
    Ok(exit_code(child.wait()?))
}

/// Starts the agent; the caller waits for it (and may kill it on a signal).
pub fn spawn(plan: &Plan, options: &Options) -> Result<Child> {
    let has_prompt = std::fs::metadata(&plan.agent.prompt_file)
        .map(|m| m.len() > 0)
        .unwrap_or(false);
    let mut options = options.clone();
    if options.resume && !has_history(plan)? {
        bb_core::progress::info(
            "bb-exec",
            "no earlier conversation in this bottle's home; starting a fresh session",
        );
        options.resume = false;
    }
    let argv = argv(plan, &options, has_prompt)?;
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    if options.headless.is_some() {
        cmd.stdin(Stdio::null());
    } else if options.stdin_from_tty {
        cmd.stdin(std::fs::File::open("/dev/tty").context("opening /dev/tty")?);
    }
    cmd.spawn().with_context(|| format!("starting {}", argv[0]))
}

/// Whether the agent's home holds a conversation its CLI can continue.
pub fn has_history(plan: &Plan) -> Result<bool> {
    let dir = bb_core::agent_cli::history_dir(plan.provider.template);
    let probe = format!("find {dir} -name '*.jsonl' -print 2>/dev/null | grep -q .");
    Ok(AgentAt::of(plan)?.succeeds(&probe))
}

/// The exit status as the shell reports it (128 + signal when killed).
pub fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(template: &str) -> Plan {
        let provider = match template {
            "claude" => serde_json::json!({
                "template": "claude", "command": ["claude"],
                "bypass_args": ["--dangerously-skip-permissions"], "resume_args": ["--continue"],
                "prompt_args": ["--append-system-prompt", "{prompt_text}"],
                "headless_args": ["-p", "{prompt}"],
                "headless_resume_args": ["--continue", "-p", "{prompt}"],
            }),
            _ => serde_json::json!({
                "template": "codex", "command": ["codex"],
                "bypass_args": ["--dangerously-bypass-approvals-and-sandbox"],
                "resume_args": ["resume", "--last"], "prompt_args": [],
                "headless_args": ["exec", "{prompt}"],
                "headless_resume_args": ["exec", "resume", "--last", "{prompt}"],
            }),
        };
        let mut provider = provider;
        let fields = provider.as_object_mut().unwrap();
        fields.insert("startup_args".into(), serde_json::json!(["--model", "m"]));
        fields.insert("image".into(), serde_json::json!("i"));
        fields.insert(
            "base_image".into(),
            serde_json::json!({"name": "B", "value": "b"}),
        );
        fields.insert("forward_host_credentials".into(), serde_json::json!(false));
        let mut value = bb_testkit::minimal_plan();
        value["provider"] = provider;
        serde_json::from_value(value).unwrap()
    }

    fn run(template: &str, headless: Option<&str>, resume: bool) -> String {
        let options = Options {
            headless: headless.map(str::to_string),
            resume,
            ..Options::default()
        };
        script(&plan(template), &options, true)
    }

    #[test]
    fn claude_command_lines() {
        assert_eq!(
            run("claude", None, false),
            "exec 'claude' '--dangerously-skip-permissions' '--append-system-prompt' \"$(cat '/home/node/.bot-bottle-prompt.txt')\" '--model' 'm'"
        );
        assert!(run("claude", Some("it's"), false).ends_with("'-p' 'it'\\''s'"));
        assert!(run("claude", None, true).ends_with("'--continue'"));
        assert!(run("claude", Some("go"), true).ends_with("'--continue' '-p' 'go'"));
    }

    #[test]
    fn codex_resumes_inside_exec_when_headless() {
        assert!(run("codex", Some("go"), true).ends_with("'exec' 'resume' '--last' 'go'"));
        assert!(run("codex", None, true).ends_with("'resume' '--last'"));
        assert!(!run("codex", None, false).contains("--append"));
    }

    /// What `sh` makes of a word: the quoted word printed back through a real shell.
    fn through_sh(word: &str) -> String {
        let out = std::process::Command::new("sh")
            .args(["-c", &format!("printf %s {word}")])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn quoting_survives_a_real_shell_unchanged() {
        for hostile in [
            "plain",
            "it's",
            "$(touch /tmp/pwned)",
            "`id`",
            "a\"b\\c",
            "new\nline",
            "'; rm -rf / #",
            "${HOME} $0 !! *",
            "",
        ] {
            assert_eq!(through_sh(&sh_quote(hostile)), hostile, "{hostile:?}");
        }
    }

    #[test]
    fn prompts_are_substituted_and_never_expanded() {
        let headless = run("claude", Some("$(id) and `id`"), false);
        assert!(headless.ends_with("'-p' '$(id) and `id`'"), "{headless}");
        let options = Options::default();
        let mut p = plan("codex");
        p.provider.startup_args = vec!["--prompt-file={prompt_file}".into()];
        let script = script(&p, &options, false);
        assert!(
            script.contains(&format!("'--prompt-file={PROMPT_FILE}'")),
            "{script}"
        );
        assert!(
            !script.contains("cat"),
            "no prompt file, no prompt args: {script}"
        );
    }
}
