//! A provider's API is not a relay: requests that ask the provider to fetch a URL the agent
//! names are refused on provider routes (unless the bottle sets `agent_provider.remote_fetch`).
//!
//! Anthropic's MCP connector (`mcp_servers`, `mcp_toolset` tools), its web fetch tool
//! (`web_fetch_*`), images and documents by URL (`source: {type: url}`); OpenAI's remote MCP
//! tools (`type: mcp`), `image_url` and `file_url` inputs. Each would make the provider open a
//! connection the agent chose, carrying whatever the agent put in the URL, from outside the
//! bottle. The body is parsed as the provider parses it (JSON); the arguments of the agent's
//! own tool calls (`tool_use.input`) are data, not requests, and are not read.
//!
//! What no proxy can close: the provider receives everything the agent sends it (the
//! conversation itself), and a provider-side feature that fetches by other means (a search
//! query the model writes) carries what the model puts in it. See docs/threat-model.md.

use bb_contract::plan::ProviderApi;
use serde_json::{Map, Value};

/// Why the request body must not reach the provider, if it must not.
pub fn refusal(api: ProviderApi, body: &[u8]) -> Option<String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let name = match api {
        ProviderApi::Anthropic => "Anthropic",
        ProviderApi::Openai => "OpenAI",
    };
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(_) => {
            return Some(format!(
                "a request to the {name} API that is not JSON cannot be checked for provider-side fetches"
            ));
        }
    };
    find_fetch(&value).map(|what| {
        format!(
            "the request asks {name} to fetch a URL itself ({what}); set agent_provider.remote_fetch: true in the bottle to allow it"
        )
    })
}

/// The first construct in `value` that makes the provider fetch a URL.
fn find_fetch(value: &Value) -> Option<String> {
    match value {
        Value::Array(items) => items.iter().find_map(find_fetch),
        Value::Object(map) => object_fetch(map).or_else(|| {
            map.iter()
                .filter(|(key, _)| !is_tool_call_data(map, key))
                .find_map(|(_, v)| find_fetch(v))
        }),
        _ => None,
    }
}

fn object_fetch(map: &Map<String, Value>) -> Option<String> {
    if map
        .get("mcp_servers")
        .is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty()))
    {
        return Some("`mcp_servers`".into());
    }
    let kind = map.get("type").and_then(Value::as_str).unwrap_or("");
    if kind == "mcp" || kind.starts_with("mcp_toolset") || kind.starts_with("web_fetch") {
        return Some(format!("a `{kind}` tool"));
    }
    if kind == "url" && map.contains_key("url") {
        return Some("a `source` of type `url`".into());
    }
    for key in ["image_url", "file_url", "url"] {
        let named = match map.get(key) {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(Value::Object(inner)) => inner.get("url").and_then(Value::as_str),
            _ => None,
        };
        if key != "url" && named.is_some_and(is_remote) {
            return Some(format!("`{key}`"));
        }
        if key == "url" && kind == "image_url" && named.is_some_and(is_remote) {
            return Some("an `image_url`".into());
        }
    }
    None
}

/// Keys whose value is the agent's own tool call, not an instruction to the provider.
fn is_tool_call_data(map: &Map<String, Value>, key: &str) -> bool {
    let kind = map.get("type").and_then(Value::as_str).unwrap_or("");
    key == "input" && kind.ends_with("tool_use")
}

fn is_remote(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    !lower.starts_with("data:") && lower.contains(':')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(api: ProviderApi, body: Value) -> bool {
        refusal(api, body.to_string().as_bytes()).is_some()
    }

    #[test]
    fn anthropic_fetches_are_refused() {
        let a = ProviderApi::Anthropic;
        for body in [
            json!({"model": "m", "mcp_servers": [{"type": "url", "url": "https://x.example/sse"}]}),
            json!({"tools": [{"type": "web_fetch_20250910", "name": "web_fetch"}]}),
            json!({"tools": [{"type": "mcp_toolset", "mcp_server_name": "x"}]}),
            json!({"messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "url", "url": "https://x.example/a.png"}}]}]}),
            json!({"messages": [{"role": "user", "content": [{"type": "tool_result", "content": [
                {"type": "document", "source": {"type": "url", "url": "https://x.example/d.pdf"}}]}]}]}),
        ] {
            assert!(refused(a, body.clone()), "{body}");
        }
    }

    #[test]
    fn openai_fetches_are_refused() {
        let o = ProviderApi::Openai;
        for body in [
            json!({"tools": [{"type": "mcp", "server_url": "https://x.example/mcp"}]}),
            json!({"input": [{"role": "user", "content": [
                {"type": "input_image", "image_url": "https://x.example/a.png"}]}]}),
            json!({"input": [{"role": "user", "content": [
                {"type": "input_file", "file_url": "https://x.example/f.pdf"}]}]}),
            json!({"messages": [{"content": [{"type": "image_url", "image_url": {"url": "http://x.example/a"}}]}]}),
        ] {
            assert!(refused(o, body.clone()), "{body}");
        }
    }

    #[test]
    fn ordinary_requests_pass() {
        let a = ProviderApi::Anthropic;
        assert!(!refused(
            a,
            json!({"model": "m", "mcp_servers": [], "messages": [
            {"role": "user", "content": "fetch https://example.org please"},
            {"role": "assistant", "content": [{"type": "tool_use", "name": "WebFetch",
                "input": {"url": "https://example.org", "type": "url"}}]},
            {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": "AAAA"}}]}
        ], "tools": [{"name": "Bash", "input_schema": {"type": "object"}}]})
        ));
        let o = ProviderApi::Openai;
        assert!(!refused(
            o,
            json!({"input": [{"role": "user", "content": [
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]}],
            "tools": [{"type": "function", "name": "shell"}]})
        ));
        assert!(refusal(o, b"").is_none());
        assert!(refusal(o, b"not json").is_some());
    }
}
