//! Questions on the terminal (`/dev/tty`, so they work while stdin and stdout are piped).

use std::io::{BufRead, Write};

use anyhow::Result;
use bb_contract::InputError;

/// Asks `question` (ending in `[y/N] `); only `y` and `yes` are a yes. Without a terminal: an
/// input error whose fix is `fix` (the flag that skips the question).
pub fn ask(question: &str, fix: &str) -> Result<bool> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| {
            InputError::new(format!("no terminal to ask `{}` on", question.trim_end()))
                .fix(fix.to_string())
        })?;
    let mut writer = tty.try_clone()?;
    write!(writer, "{question}")?;
    writer.flush()?;
    let mut answer = String::new();
    std::io::BufReader::new(tty).read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
