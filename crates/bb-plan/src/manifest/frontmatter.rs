//! Splits a Markdown file into its YAML front matter and its body.

/// A manifest file split at its `---` fences.
#[derive(Debug, Clone, PartialEq)]
pub struct Document<'a> {
    /// The YAML between the fences.
    pub yaml: &'a str,
    /// The 1-based file line of the first YAML line, to map YAML lines to file lines.
    pub yaml_first_line: usize,
    /// Everything after the closing fence.
    pub body: &'a str,
}

/// Why a file has no usable front matter.
#[derive(Debug, Clone, PartialEq)]
pub enum FrontMatterError {
    Missing,
    Unclosed,
}

impl FrontMatterError {
    pub fn message(&self) -> &'static str {
        match self {
            FrontMatterError::Missing => "no YAML front matter",
            FrontMatterError::Unclosed => "the front matter's opening `---` has no closing `---`",
        }
    }

    pub fn fix(&self) -> &'static str {
        match self {
            FrontMatterError::Missing => {
                "start the file with a `---` line, the YAML keys, and another `---` line"
            }
            FrontMatterError::Unclosed => "end the YAML keys with a line holding only `---`",
        }
    }
}

fn is_fence(line: &str, fences: &[&str]) -> bool {
    let line = line.trim_end_matches(['\r', '\n']).trim_end();
    fences.contains(&line)
}

/// Splits `text`; the opening fence must be the first line (a UTF-8 BOM is tolerated).
pub fn split(text: &str) -> Result<Document<'_>, FrontMatterError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().ok_or(FrontMatterError::Missing)?;
    if !is_fence(first, &["---"]) {
        return Err(FrontMatterError::Missing);
    }
    let yaml_start = first.len();
    let mut offset = yaml_start;
    for line in lines {
        if is_fence(line, &["---", "..."]) {
            return Ok(Document {
                yaml: &text[yaml_start..offset],
                yaml_first_line: 2,
                body: &text[offset + line.len()..],
            });
        }
        offset += line.len();
    }
    Err(FrontMatterError::Unclosed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_yaml_and_body() {
        let doc = split("---\nbottle: shop\n---\nYou fix tests.\n").unwrap();
        assert_eq!(doc.yaml, "bottle: shop\n");
        assert_eq!(doc.body, "You fix tests.\n");
        assert_eq!(doc.yaml_first_line, 2);
    }

    #[test]
    fn empty_front_matter_and_crlf() {
        let doc = split("---\r\n---\r\nbody").unwrap();
        assert_eq!(doc.yaml, "");
        assert_eq!(doc.body, "body");
    }

    #[test]
    fn body_may_contain_more_fences() {
        let doc = split("---\na: 1\n---\ntext\n---\nmore\n").unwrap();
        assert_eq!(doc.body, "text\n---\nmore\n");
    }

    #[test]
    fn missing_and_unclosed() {
        assert_eq!(split("hello\n"), Err(FrontMatterError::Missing));
        assert_eq!(split(""), Err(FrontMatterError::Missing));
        assert_eq!(split("---\na: 1\n"), Err(FrontMatterError::Unclosed));
        assert_eq!(split(" ---\na: 1\n---\n"), Err(FrontMatterError::Missing));
    }
}
