//! A config file as written: every key gitleaks reads (names are case-insensitive there, as
//! viper lowercases them), nothing else. Serialises back to gitleaks' TOML.

use serde::Serialize;
use toml::{Table, Value};

/// Where in the file a value sits, for error messages: `rules[3].allowlists[0].regexes`.
pub(crate) type KeyPath = String;

/// An error at a key: the key path and what is wrong with it.
#[derive(Debug)]
pub(crate) struct KeyError {
    pub key: KeyPath,
    pub message: String,
    pub fix: Option<String>,
}

impl KeyError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> KeyError {
        KeyError {
            key: key.into(),
            message: message.into(),
            fix: None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extend: Option<RawExtend>,
    pub rules: Vec<RawRule>,
    /// `[allowlist]` (the older form) when the file used it.
    #[serde(skip)]
    pub allowlist: Option<RawAllowlist>,
    pub allowlists: Vec<RawAllowlist>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawExtend {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub use_default: bool,
    pub disabled_rules: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawRule {
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub secret_group: usize,
    #[serde(skip_serializing_if = "is_zero_f")]
    pub entropy: f64,
    pub keywords: Vec<String>,
    pub tags: Vec<String>,
    #[serde(skip)]
    pub allowlist: Option<RawAllowlist>,
    pub allowlists: Vec<RawAllowlist>,
    pub required: Vec<RawRequired>,
    pub skip_report: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawAllowlist {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub condition: String,
    pub commits: Vec<String>,
    pub paths: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub regex_target: String,
    pub regexes: Vec<String>,
    pub stopwords: Vec<String>,
    /// Global allowlists only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub target_rules: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawRequired {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within_lines: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within_columns: Option<u64>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_zero_f(n: &f64) -> bool {
    *n == 0.0
}

/// The keys of one table, read case-insensitively; an unknown key is an error with a guess.
struct Fields<'a> {
    at: String,
    values: Vec<(String, &'a Value)>,
}

impl<'a> Fields<'a> {
    fn new(table: &'a Table, at: &str, known: &[&str]) -> Result<Fields<'a>, KeyError> {
        let mut values = Vec::new();
        for (key, value) in table {
            let Some(name) = known.iter().find(|k| k.eq_ignore_ascii_case(key)) else {
                let mut err = KeyError::new(join(at, key), format!("unknown key `{key}`"));
                err.fix = Some(
                    match bb_contract::error::did_you_mean(key, known.iter().copied()) {
                        Some(guess) => format!("did you mean `{guess}`?"),
                        None => format!("gitleaks reads: {}", known.join(", ")),
                    },
                );
                return Err(err);
            };
            values.push((name.to_string(), value));
        }
        Ok(Fields {
            at: at.to_string(),
            values,
        })
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.values.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    }

    fn key(&self, name: &str) -> String {
        join(&self.at, name)
    }

    fn string(&self, name: &str) -> Result<Option<String>, KeyError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong(name, "a string", other)),
        }
    }

    fn strings(&self, name: &str) -> Result<Vec<String>, KeyError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(KeyError::new(
                        format!("{}[{i}]", self.key(name)),
                        format!("is {}, not a string", other.type_str()),
                    )),
                })
                .collect(),
            Some(other) => Err(self.wrong(name, "a list of strings", other)),
        }
    }

    fn boolean(&self, name: &str) -> Result<bool, KeyError> {
        match self.get(name) {
            None => Ok(false),
            Some(Value::Boolean(b)) => Ok(*b),
            Some(other) => Err(self.wrong(name, "true or false", other)),
        }
    }

    fn count(&self, name: &str) -> Result<Option<u64>, KeyError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Integer(n)) if *n >= 0 => Ok(Some(*n as u64)),
            Some(other) => Err(self.wrong(name, "a whole number ≥ 0", other)),
        }
    }

    fn number(&self, name: &str) -> Result<f64, KeyError> {
        match self.get(name) {
            None => Ok(0.0),
            Some(Value::Integer(n)) => Ok(*n as f64),
            Some(Value::Float(f)) => Ok(*f),
            Some(other) => Err(self.wrong(name, "a number", other)),
        }
    }

    fn table(&self, name: &str) -> Result<Option<&'a Table>, KeyError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Table(t)) => Ok(Some(t)),
            Some(other) => Err(self.wrong(name, "a table", other)),
        }
    }

    fn tables(&self, name: &str) -> Result<Vec<&'a Table>, KeyError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Table(t) => Ok(t),
                    other => Err(KeyError::new(
                        format!("{}[{i}]", self.key(name)),
                        format!("is {}, not a table", other.type_str()),
                    )),
                })
                .collect(),
            Some(other) => Err(self.wrong(name, "a list of tables", other)),
        }
    }

    /// Each table of the list `name`, read by `read` with its key path (`name[i]`).
    fn each<T>(
        &self,
        name: &str,
        read: impl Fn(&'a Table, &str) -> Result<T, KeyError>,
    ) -> Result<Vec<T>, KeyError> {
        self.tables(name)?
            .into_iter()
            .enumerate()
            .map(|(i, t)| read(t, &format!("{}[{i}]", self.key(name))))
            .collect()
    }

    /// `[allowlist]` (the older form) and `[[allowlists]]`.
    fn allowlists(
        &self,
        global: bool,
    ) -> Result<(Option<RawAllowlist>, Vec<RawAllowlist>), KeyError> {
        let one = match self.table("allowlist")? {
            Some(t) => Some(RawAllowlist::from_table(t, &self.key("allowlist"), global)?),
            None => None,
        };
        let many = self.each("allowlists", |t, at| {
            RawAllowlist::from_table(t, at, global)
        })?;
        Ok((one, many))
    }

    fn wrong(&self, name: &str, wanted: &str, got: &Value) -> KeyError {
        KeyError::new(
            self.key(name),
            format!("must be {wanted}, not {}", got.type_str()),
        )
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

const TOP_KEYS: &[&str] = &[
    "title",
    "description",
    "minVersion",
    "extend",
    "rules",
    "allowlist",
    "allowlists",
];
const EXTEND_KEYS: &[&str] = &["path", "url", "useDefault", "disabledRules"];
const RULE_KEYS: &[&str] = &[
    "id",
    "description",
    "regex",
    "path",
    "secretGroup",
    "entropy",
    "keywords",
    "tags",
    "allowlist",
    "allowlists",
    "required",
    "skipReport",
];
const ALLOWLIST_KEYS: &[&str] = &[
    "description",
    "condition",
    "commits",
    "paths",
    "regexTarget",
    "regexes",
    "stopwords",
];
const REQUIRED_KEYS: &[&str] = &["id", "withinLines", "withinColumns"];

impl RawConfig {
    /// Reads a parsed TOML document.
    pub fn from_table(table: &Table) -> Result<RawConfig, KeyError> {
        let f = Fields::new(table, "", TOP_KEYS)?;
        let extend = match f.table("extend")? {
            Some(t) => Some(RawExtend::from_table(t)?),
            None => None,
        };
        let rules = f.each("rules", RawRule::from_table)?;
        let (allowlist, allowlists) = f.allowlists(true)?;
        Ok(RawConfig {
            title: f.string("title")?,
            description: f.string("description")?,
            min_version: f.string("minVersion")?,
            extend,
            rules,
            allowlist,
            allowlists,
        })
    }
}

impl RawExtend {
    fn from_table(t: &Table) -> Result<RawExtend, KeyError> {
        let f = Fields::new(t, "extend", EXTEND_KEYS)?;
        Ok(RawExtend {
            path: f.string("path")?.filter(|p| !p.is_empty()),
            url: f.string("url")?.filter(|u| !u.is_empty()),
            use_default: f.boolean("useDefault")?,
            disabled_rules: f.strings("disabledRules")?,
        })
    }
}

impl RawRule {
    fn from_table(t: &Table, at: &str) -> Result<RawRule, KeyError> {
        let f = Fields::new(t, at, RULE_KEYS)?;
        let (allowlist, allowlists) = f.allowlists(false)?;
        let required = f.each("required", RawRequired::from_table)?;
        let secret_group = f.count("secretGroup")?.unwrap_or(0) as usize;
        Ok(RawRule {
            id: f.string("id")?.unwrap_or_default(),
            description: f.string("description")?.unwrap_or_default(),
            regex: f.string("regex")?.filter(|r| !r.is_empty()),
            path: f.string("path")?.filter(|p| !p.is_empty()),
            secret_group,
            entropy: f.number("entropy")?,
            keywords: f.strings("keywords")?,
            tags: f.strings("tags")?,
            allowlist,
            allowlists,
            required,
            skip_report: f.boolean("skipReport")?,
        })
    }
}

impl RawAllowlist {
    fn from_table(t: &Table, at: &str, global: bool) -> Result<RawAllowlist, KeyError> {
        // A global allowlist also names the rules it is for.
        let global_keys: Vec<&str> = ALLOWLIST_KEYS
            .iter()
            .copied()
            .chain(["targetRules"])
            .collect();
        let keys = if global {
            &global_keys[..]
        } else {
            ALLOWLIST_KEYS
        };
        let f = Fields::new(t, at, keys)?;
        Ok(RawAllowlist {
            description: f.string("description")?.unwrap_or_default(),
            condition: f.string("condition")?.unwrap_or_default(),
            commits: f.strings("commits")?,
            paths: f.strings("paths")?,
            regex_target: f.string("regexTarget")?.unwrap_or_default(),
            regexes: f.strings("regexes")?,
            stopwords: f.strings("stopwords")?,
            target_rules: if global {
                f.strings("targetRules")?
            } else {
                Vec::new()
            },
        })
    }
}

impl RawRequired {
    fn from_table(t: &Table, at: &str) -> Result<RawRequired, KeyError> {
        let f = Fields::new(t, at, REQUIRED_KEYS)?;
        Ok(RawRequired {
            id: f.string("id")?.unwrap_or_default(),
            within_lines: f.count("withinLines")?,
            within_columns: f.count("withinColumns")?,
        })
    }
}
