//! The token rule table. A rule is one entry: its search window is derived from the regex
//! ([`super::window`]), so a new rule needs nothing else.

use regex::bytes::Captures;

use super::accept::{extended_key, g1, g1_lb, hf, jwt, npm, openai, slack, whole, whole_lb};
use super::generic::generic;
use super::vendors::{BROAD, VENDORS};

/// Picks the reported span (start, end) of a match in the data, or rejects the match.
pub(super) type Accept = fn(&[u8], &Captures) -> Option<(usize, usize)>;

#[derive(Clone, Copy)]
pub(super) struct Spec {
    pub name: &'static str,
    /// The literals the rule's regex runs around: every match holds one of them, best in its
    /// leading part (the window reaches back from there, see [`super::window`]).
    pub literals: &'static [&'static str],
    /// `(?-u)`, over bytes; every match must have a maximum length.
    pub re: &'static str,
    pub accept: Accept,
    /// The key word must be followed by an assignment (`=`, `:`): a cheap test run before the
    /// regex.
    pub assigned: bool,
    /// A private key header: the finding runs through the key block after it.
    pub private_key: bool,
    /// How many bytes before a match its accept function reads (the key's qualifier in
    /// `ClientRequestToken`, the ARN a key word sits in): the scan keeps them in view.
    pub look_behind: usize,
}

impl Spec {
    pub(super) const fn new(
        name: &'static str,
        literals: &'static [&'static str],
        re: &'static str,
        accept: Accept,
    ) -> Spec {
        Spec {
            name,
            literals,
            re,
            accept,
            assigned: false,
            private_key: false,
            look_behind: 0,
        }
    }

    const fn assigned(self) -> Spec {
        Spec {
            assigned: true,
            ..self
        }
    }

    const fn looks_behind(self, bytes: usize) -> Spec {
        Spec {
            look_behind: bytes,
            ..self
        }
    }

    const fn private_key(self) -> Spec {
        Spec {
            private_key: true,
            ..self
        }
    }
}

/// The key words of the labelled rules, in the case variants that are searched for.
const KEYWORDS: &[&str] = &[
    "assw",
    "ASSW",
    "ecret",
    "ECRET",
    "oken",
    "OKEN",
    "key",
    "Key",
    "KEY",
    "redential",
    "REDENTIAL",
];

/// The rules of well-known formats and the generic rule; [`super::vendors`] adds the rest.
const CORE: &[Spec] = &[
    Spec::new(
        "aws-access-key-id",
        &["AKIA", "ASIA", "ABIA", "ACCA", "A3T"],
        r"(?-u)((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})(?:[^A-Za-z0-9]|$)",
        g1_lb,
    ),
    Spec::new(
        "aws-secret-access-key",
        &["ecret", "ECRET"],
        r#"(?i-u)(?:(?:aws|amz)[_.-]?secret[_.-]?(?:access[_.-]?)?key|secret[_.-]?access[_.-]?key)["'\]]?[ \t]{0,4}(?:[:=]|=>|:=)[ \t]{0,4}["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
        g1,
    )
    .assigned(),
    // Classic tokens have 36 characters after the prefix; 30 or more are accepted (the
    // prefix is distinctive, and shortened test tokens are still blocked).
    Spec::new(
        "github-pat",
        &["ghp_"],
        r"(?-u)ghp_[A-Za-z0-9]{30,251}",
        whole_lb,
    ),
    Spec::new(
        "github-oauth-token",
        &["gho_"],
        r"(?-u)gho_[A-Za-z0-9]{30,251}",
        whole_lb,
    ),
    Spec::new(
        "github-user-token",
        &["ghu_"],
        r"(?-u)ghu_[A-Za-z0-9]{30,251}",
        whole_lb,
    ),
    Spec::new(
        "github-server-token",
        &["ghs_"],
        r"(?-u)ghs_[A-Za-z0-9]{30,251}",
        whole_lb,
    ),
    Spec::new(
        "github-refresh-token",
        &["ghr_"],
        r"(?-u)ghr_[A-Za-z0-9]{30,251}",
        whole_lb,
    ),
    Spec::new(
        "github-fine-grained-pat",
        &["github_pat_"],
        r"(?-u)github_pat_[A-Za-z0-9_]{22,255}",
        whole_lb,
    ),
    Spec::new(
        "gitlab-pat",
        &["glp"],
        r"(?-u)glpat-[A-Za-z0-9_.-]{20,100}",
        whole_lb,
    ),
    Spec::new(
        "slack-token",
        &["xox"],
        r"(?-u)xox(?:[abprs]|e(?:\.xox[bp])?)-[A-Za-z0-9-]{10,250}",
        slack,
    ),
    Spec::new(
        "stripe-secret-key",
        &["k_live_", "k_test_"],
        r"(?-u)sk_(?:live|test)_[A-Za-z0-9_]{10,247}",
        whole_lb,
    ),
    Spec::new(
        "stripe-restricted-key",
        &["k_live_", "k_test_"],
        r"(?-u)rk_(?:live|test)_[A-Za-z0-9_]{10,247}",
        whole_lb,
    ),
    Spec::new(
        "openai-api-key",
        &["sk-"],
        r"(?-u)sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,250}",
        openai,
    ),
    Spec::new(
        "anthropic-api-key",
        &["sk-"],
        r"(?-u)sk-ant-[A-Za-z0-9_-]{20,250}",
        whole_lb,
    ),
    Spec::new(
        "google-api-key",
        &["AIza"],
        r"(?-u)(AIza[0-9A-Za-z_-]{35})(?:[^0-9A-Za-z_-]|$)",
        g1_lb,
    ),
    Spec::new(
        "private-key",
        &["-----BEGIN"],
        r"(?-u)-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----",
        whole,
    )
    .private_key(),
    Spec::new(
        "jwt",
        &["eyJ"],
        r"(?-u)(eyJ[A-Za-z0-9_-]{4,2048}\.eyJ[A-Za-z0-9_-]{2,8192}\.[A-Za-z0-9_-]{0,2048})(?:[^A-Za-z0-9_-]|$)",
        jwt,
    ),
    Spec::new(
        "sendgrid-api-key",
        &["SG."],
        r"(?-u)SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}",
        whole_lb,
    ),
    Spec::new(
        "npm-token",
        &["npm_"],
        r"(?-u)(npm_[A-Za-z0-9]{36})(?:[^A-Za-z0-9]|$)",
        npm,
    ),
    Spec::new(
        "pypi-token",
        &["pypi-AgEIcHlwaS5vcmc"],
        r"(?-u)pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,1000}",
        whole_lb,
    ),
    Spec::new(
        "huggingface-token",
        &["hf_"],
        r"(?-u)(hf_[A-Za-z]{34})(?:[^A-Za-z0-9]|$)",
        hf,
    ),
    Spec::new(
        "docker-pat",
        &["dckr_pat_"],
        r"(?-u)dckr_pat_[A-Za-z0-9_-]{27,100}",
        whole_lb,
    ),
    Spec::new(
        "crypto-extended-private-key",
        &["prv"],
        r"(?-u)((?:xprv|tprv|yprv|zprv|uprv|vprv)[1-9A-HJ-NP-Za-km-z]{107,108})(?:[^A-Za-z0-9]|$)",
        extended_key,
    ),
    Spec::new(
        "generic-credential",
        KEYWORDS,
        r#"(?i-u)(?:pass(?:word|wd)|secret|token|credentials?|(?:api|access|secret|private|auth|client|app|master|signing|encryption)[_.-]?key)([A-Za-z0-9_.-]{0,24}["'\]]?)[ \t]{0,4}(?:[:=]|=>|:=)[ \t]{0,4}["']?([^\s"'`,;&<>(){}\[\]\\|]{16,200})"#,
        generic,
    )
    .assigned()
    .looks_behind(super::generic::LOOK_BEHIND),
];

/// Every token rule: [`CORE`], [`VENDORS`], then [`BROAD`] (from [`BROAD_FROM`] on).
pub(super) const RULES: &[Spec] = &concat_rules::<{ CORE.len() + VENDORS.len() + BROAD.len() }>();

/// Where the rules of the broad tier start in [`RULES`].
pub(super) const BROAD_FROM: usize = CORE.len() + VENDORS.len();

const fn concat_rules<const N: usize>() -> [Spec; N] {
    let mut out = [CORE[0]; N];
    let mut i = 0;
    while i < N {
        out[i] = if i < CORE.len() {
            CORE[i]
        } else if i < BROAD_FROM {
            VENDORS[i - CORE.len()]
        } else {
            BROAD[i - BROAD_FROM]
        };
        i += 1;
    }
    out
}

/// The names of the token rules (a decoded match adds `/base64`, `/hex` or `/url`).
pub const TOKEN_RULES: &[&str] = &rule_names::<{ RULES.len() }>();

/// The names of the broad tier's rules (run by [`crate::Engine::with_broad_rules`] only).
pub const BROAD_TOKEN_RULES: &[&str] = TOKEN_RULES.split_at(BROAD_FROM).1;

const fn rule_names<const N: usize>() -> [&'static str; N] {
    let mut names = [""; N];
    let mut i = 0;
    while i < N {
        names[i] = RULES[i].name;
        i += 1;
    }
    names
}
