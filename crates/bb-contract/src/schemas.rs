//! The JSON Schemas of the plan and the files beside it, generated from the types and checked
//! into `docs/` (a test fails when one drifts; `BB_BLESS_SCHEMAS=1 cargo test -p bb-contract`
//! rewrites them).

use schemars::schema_for;
use serde_json::Value;

/// Every checked-in schema: its path under the repository root, and the schema.
pub fn all() -> Vec<(&'static str, Value)> {
    vec![
        ("docs/plan.schema.json", crate::plan::json_schema()),
        (
            "docs/schemas/repos.schema.json",
            to_value(schema_for!(crate::gate::GateConfig)),
        ),
        (
            "docs/schemas/log-line.schema.json",
            to_value(schema_for!(crate::log::LogLine)),
        ),
        (
            "docs/schemas/metadata.schema.json",
            to_value(schema_for!(crate::state::Metadata)),
        ),
        (
            "docs/schemas/ca.schema.json",
            to_value(schema_for!(crate::ca::CaInfo)),
        ),
    ]
}

fn to_value(schema: schemars::Schema) -> Value {
    schema.to_value()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn checked_in_schemas_match_the_types() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let bless = std::env::var_os("BB_BLESS_SCHEMAS").is_some();
        for (path, schema) in super::all() {
            let file = root.join(path);
            let pretty = serde_json::to_string_pretty(&schema).unwrap() + "\n";
            if bless {
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(&file, &pretty).unwrap();
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let checked_in: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            assert!(
                checked_in == schema,
                "{path} is stale: run `BB_BLESS_SCHEMAS=1 cargo test -p bb-contract` and commit it"
            );
        }
    }
}
