//! Reading objects (`git cat-file --batch`, without replace refs) and naming the part of a
//! commit or tag object a finding is in (`author`, `committer`, `tagger`, `message`, ...).

use std::io::{BufRead, BufReader, Read, Write};

use anyhow::{Context, Result, bail};

use crate::run::GitRepo;

/// `git cat-file --batch`, one object at a time.
pub struct CatFile {
    child: std::process::Child,
    input: Option<std::process::ChildStdin>,
    output: BufReader<std::process::ChildStdout>,
}

/// An object read with [`CatFile`].
pub struct Object {
    pub kind: String,
    pub data: Vec<u8>,
}

impl CatFile {
    pub fn new(git: &GitRepo) -> Result<CatFile> {
        let mut child = git
            .raw_objects()
            .args(["cat-file", "--batch"])
            .spawn_piped()?;
        let input = child.stdin.take().context("cat-file stdin")?;
        let output = BufReader::new(child.stdout.take().context("cat-file stdout")?);
        Ok(CatFile {
            child,
            input: Some(input),
            output,
        })
    }

    pub fn get(&mut self, oid: &str) -> Result<Option<Object>> {
        let input = self.input.as_mut().context("cat-file input taken")?;
        writeln!(input, "{oid}")?;
        input.flush()?;
        self.read_answer()
    }

    /// The process's input, for a thread that writes many ids at once (`get` fails after).
    fn take_input(&mut self) -> Result<std::process::ChildStdin> {
        self.input.take().context("cat-file input already taken")
    }

    fn read_answer(&mut self) -> Result<Option<Object>> {
        let mut header = String::new();
        self.output.read_line(&mut header)?;
        let words: Vec<&str> = header.split_whitespace().collect();
        if words.len() == 2 && words[1] == "missing" {
            return Ok(None);
        }
        let [_, kind, size] = words[..] else {
            bail!("git cat-file: unexpected answer `{}`", header.trim());
        };
        let size: usize = size.parse().context("git cat-file size")?;
        let mut data = vec![0u8; size];
        self.output.read_exact(&mut data)?;
        let mut nl = [0u8; 1];
        self.output.read_exact(&mut nl)?;
        Ok(Some(Object {
            kind: kind.to_string(),
            data,
        }))
    }
}

/// Reads every object of `ids` with one `git cat-file --batch`, the ids written by another
/// thread while the answers are read (no round trip per object), calling `f` for each object
/// found, in order.
pub fn for_each_object(
    git: &GitRepo,
    ids: &[String],
    mut f: impl FnMut(&str, Object),
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut cat = CatFile::new(git)?;
    let mut input = cat.take_input()?;
    let list: Vec<u8> = ids
        .iter()
        .flat_map(|c| format!("{c}\n").into_bytes())
        .collect();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&list);
    });
    for id in ids {
        if let Some(obj) = cat.read_answer()? {
            f(id, obj);
        }
    }
    let _ = writer.join();
    Ok(())
}

impl Drop for CatFile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The part of a commit or tag object that the byte at `offset` belongs to: the header's key
/// (`author`, `committer`, `tagger`, `encoding`, `gpgsig`, ...; a tag's `tag` header is
/// `name`) or `message`.
pub fn part_at(data: &[u8], offset: usize) -> String {
    let mut key = "header".to_string();
    let mut start = 0;
    for line in data.split_inclusive(|&b| b == b'\n') {
        let end = start + line.len();
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        if body.is_empty() {
            // The blank line ends the headers.
            return "message".into();
        }
        if !body.starts_with(b" ") {
            let word = body.split(|&b| b == b' ').next().unwrap_or_default();
            key = match word {
                b"tag" => "name".into(),
                other => crate::events::sanitize(other, 20),
            };
        }
        if offset < end {
            return key;
        }
        start = end;
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_part_of_an_object() {
        let commit = b"tree 1111\nparent 2222\nauthor A <a@x> 1 +0000\ncommitter C <c@x> 1 +0000\ngpgsig -----BEGIN\n sig line\n -----END\n\nsubject\n\nbody\n";
        let at = |needle: &str| {
            let pos = commit
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())
                .unwrap();
            part_at(commit, pos)
        };
        assert_eq!(at("A <a@x>"), "author");
        assert_eq!(at("C <c@x>"), "committer");
        assert_eq!(at("sig line"), "gpgsig");
        assert_eq!(at("subject"), "message");
        assert_eq!(at("body"), "message");
        let tag = b"object 1111\ntype commit\ntag v1-secret\ntagger T <t@x> 1 +0000\n\nrelease\n";
        assert_eq!(part_at(tag, 30), "name");
        assert_eq!(part_at(tag, 50), "tagger");
        assert_eq!(part_at(tag, tag.len() - 3), "message");
    }
}
