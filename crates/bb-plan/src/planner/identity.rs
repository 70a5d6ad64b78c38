//! A bottle's identity: minted from the agent's name, or given for resume and checked.

use bb_contract::InputError;

/// An identity given for resume must be a safe Docker name component.
pub(super) fn check_identity(id: &str) -> Result<String, InputError> {
    if bb_contract::layout::names::is_identity(id) {
        Ok(id.to_string())
    } else {
        Err(InputError::new(format!("`{id}` is not a bottle identity"))
            .key("--identity")
            .fix("pass an identity as printed by `bot-bottle start`, such as fixer-x7k2p"))
    }
}

/// The identity prefix of an agent: lower-case alphanumerics, anything else a `-`, at most 40
/// characters, `bottle` when nothing is left.
pub fn identity_slug(agent: &str) -> String {
    let slug: String = agent
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        "bottle".into()
    } else {
        slug.into()
    }
}

/// `<agent slug>-<5 random base36 characters>`.
pub fn mint_identity(agent: &str) -> String {
    use rand::RngExt;
    const BASE36: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let slug = identity_slug(agent);
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| BASE36[rng.random_range(0..BASE36.len())] as char)
        .collect();
    format!("{slug}-{suffix}")
}
