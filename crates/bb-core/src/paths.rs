//! Where bot-bottle keeps its files.
//!
//! `$BOT_BOTTLE_HOME` when set (tests always set it), else `$HOME/.bot-bottle`.

use std::path::{Path, PathBuf};

use bb_contract::InputError;

/// The bot-bottle home folder (`~/.bot-bottle`).
pub fn home() -> Result<PathBuf, InputError> {
    if let Some(dir) = std::env::var_os("BOT_BOTTLE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".bot-bottle")),
        None => Err(InputError::new("neither BOT_BOTTLE_HOME nor HOME is set")
            .fix("set BOT_BOTTLE_HOME to the folder that holds bottles/ and agents/")),
    }
}

/// The download cache shared by every bottle home (the pinned CLI wheels):
/// `$BOT_BOTTLE_CACHE`, else `$XDG_CACHE_HOME/bot-bottle`, else `$HOME/.cache/bot-bottle`.
pub fn cache_dir() -> Result<PathBuf, InputError> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("BOT_BOTTLE_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(dir).join("bot-bottle"));
    }
    match var("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".cache/bot-bottle")),
        None => Err(
            InputError::new("none of BOT_BOTTLE_CACHE, XDG_CACHE_HOME, HOME is set")
                .fix("set BOT_BOTTLE_CACHE to a folder for downloads"),
        ),
    }
}

/// The folder of all bottles' state.
pub fn state_root(home: &Path) -> PathBuf {
    home.join("state")
}

/// The state folder of one bottle.
pub fn state_dir(home: &Path, identity: &str) -> PathBuf {
    state_root(home).join(identity)
}

/// Expands a leading `~` or `~/` to the user's home folder.
pub fn expand_tilde(path: &str) -> PathBuf {
    let home = std::env::var_os("HOME").filter(|v| !v.is_empty());
    match (path, home) {
        ("~", Some(home)) => PathBuf::from(home),
        (p, Some(home)) if p.starts_with("~/") => PathBuf::from(home).join(&p[2..]),
        (p, _) => PathBuf::from(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_dir_is_under_home_state() {
        assert_eq!(
            state_dir(Path::new("/h"), "fixer-ab12c"),
            PathBuf::from("/h/state/fixer-ab12c")
        );
    }

    #[test]
    fn tilde_is_only_expanded_at_the_start() {
        let home = std::env::var("HOME").unwrap();
        assert_eq!(expand_tilde("~/x"), PathBuf::from(&home).join("x"));
        assert_eq!(expand_tilde("~"), PathBuf::from(&home));
        assert_eq!(expand_tilde("/a/~/x"), PathBuf::from("/a/~/x"));
        assert_eq!(expand_tilde("~other/x"), PathBuf::from("~other/x"));
    }
}
