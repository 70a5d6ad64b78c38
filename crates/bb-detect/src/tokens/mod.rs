//! `token_patterns`: well-known credential formats.
//!
//! One literal search holds the distinctive literal of every rule (`AKIA`, `ghp_`, `sk-`,
//! `eyJ`, `-----BEGIN`, ...) and the key words of the labelled rules (`assword`, `ecret`,
//! `oken`, `key`, ...: case variants are listed, the search is case-sensitive so that it stays
//! a SIMD (Teddy) search, with an Aho-Corasick automaton where Teddy is not available). A
//! rule's regex (`(?-u)`, over bytes) then runs only in a small window around each literal
//! hit, derived from the regex itself when the rules are compiled ([`window`]). Known secrets
//! shorter than [`crate::MIN_SECRET_LEN`] ride in the same automaton.
//!
//! A rule is one entry of the table in [`rules`]: its name, literals, regex and the function
//! that accepts or rejects a match.
//!
//! The one generic rule shipped is `generic-credential`: a key named like a credential
//! (`password`, `passwd`, `secret`, `token`, `credential(s)`, `api/access/secret/private/auth/
//! client/app/master/signing/encryption` + `key`, as the end of a word part: `DB_PASSWORD`,
//! `clientSecret`, `X-Api-Key`, but not `secretsmanager` or `tokenizer`), then `=`, `:`, `=>`
//! or `:=` (quotes allowed, as in JSON and YAML), then a value of 16 to 200 bytes that looks
//! random: not a placeholder (`${...}`, `{{...}}`, `your_...`, `changeme`, `example`, `xxxx`,
//! URLs, ARNs, `$VAR`), not only words and numbers between separators (`my-app-prod-db`,
//! `minimum-length-12`), and either three character classes (lower, upper, digit, symbol) with
//! at least 3.0 bits of entropy per byte, or two classes including digits with at least 3.5
//! (lower-case hex tokens). Keys ending in `id`, `name`, `type`, `url`, `path`, `file`, `arn`,
//! `ref`, `count`, `size`, `expires`, `at`, ... (`token_type`, `SecretId`, `secret_name`) name
//! a reference, not a credential, and are skipped. So an OAuth bearer token in a header, a
//! session cookie, `"max_tokens": 4096` or `"token_type": "Bearer"` pass; `password:
//! SuperSecretDBPass!2026` or `"api_key": "a8Fj3kL9..."` block. There is no rule for bare
//! `Authorization: Bearer <opaque>` values: the proxy strips and injects that header itself.

mod accept;
mod generic;
mod literals;
mod private_key;
mod rules;
mod scan;
mod vendors;
mod window;

#[cfg(test)]
mod tests;

pub(crate) use generic::words_and_numbers;
pub use rules::{BROAD_TOKEN_RULES, TOKEN_RULES};
pub(crate) use scan::{ShortSecret, Sink, Tier, Tokens};
