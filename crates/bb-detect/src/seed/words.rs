//! The words of a text as bit masks, so that a scan can step twelve words at a time without
//! visiting the words in between.

use crate::decode::block64;
use crate::masks::letters;

/// One bit a byte: letters, and where each word (a run of letters) starts. Its buffers are
/// reused from one scan to the next.
#[derive(Default)]
pub(crate) struct Words {
    len: usize,
    letters: Vec<u64>,
    starts: Vec<u64>,
}

impl Words {
    /// Reads the words of `data[..cut]` (a word cut by `cut` is left out).
    pub(super) fn load(&mut self, data: &[u8], cut: usize) {
        let data = &data[..cut];
        self.len = data.len();
        self.letters.clear();
        self.starts.clear();
        let mut carry = 0u64;
        for chunk in data.chunks(64) {
            let l = match chunk.try_into() {
                Ok(block) => letters(block),
                Err(_) => letters(&block64(chunk)),
            };
            self.letters.push(l);
            self.starts.push(l & !((l << 1) | carry));
            carry = l >> 63;
        }
    }

    #[cfg(test)]
    fn new(data: &[u8], cut: usize) -> Words {
        let mut words = Words::default();
        words.load(data, cut);
        words
    }

    /// The start of the `n`th word (from 0) that starts at or after `from`.
    pub(super) fn nth_start(&self, from: usize, mut n: usize) -> Option<usize> {
        let mut block = from / 64;
        let mut m = self.starts.get(block)? & (u64::MAX << (from % 64));
        loop {
            let count = m.count_ones() as usize;
            if n < count {
                for _ in 0..n {
                    m &= m - 1;
                }
                return Some(block * 64 + m.trailing_zeros() as usize);
            }
            n -= count;
            block += 1;
            m = *self.starts.get(block)?;
        }
    }

    /// The start of the first word at or after `from`.
    pub(super) fn next_start(&self, from: usize) -> Option<usize> {
        self.nth_start(from, 0)
    }

    /// The start of the last word that starts before `before`.
    pub(super) fn prev_start(&self, before: usize) -> Option<usize> {
        let mut block = before / 64;
        let below = (1u64 << (before % 64)) - 1;
        let mut m = self.starts.get(block).map_or(0, |s| s & below);
        loop {
            if m != 0 {
                return Some(block * 64 + 63 - m.leading_zeros() as usize);
            }
            block = block.checked_sub(1)?;
            m = self.starts[block];
        }
    }

    /// The end of the word that starts at `start`.
    pub(super) fn end(&self, start: usize) -> usize {
        let mut block = start / 64;
        let mut m = !self.letters[block] & (u64::MAX << (start % 64));
        loop {
            if m != 0 {
                return block * 64 + m.trailing_zeros() as usize;
            }
            block += 1;
            match self.letters.get(block) {
                Some(l) => m = !l,
                None => return self.len,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_over_words_across_blocks() {
        let text = format!("{}one two{} three four", " ".repeat(60), "x".repeat(70));
        let words = Words::new(text.as_bytes(), text.len());
        let one = words.next_start(0).unwrap();
        assert_eq!(&text[one..words.end(one)], "one");
        let two = words.nth_start(0, 1).unwrap();
        assert_eq!(&text[two..words.end(two)], format!("two{}", "x".repeat(70)));
        let four = words.nth_start(one, 3).unwrap();
        assert_eq!(&text[four..words.end(four)], "four");
        assert_eq!(words.nth_start(one, 4), None);
        assert_eq!(words.prev_start(four), Some(four - 6));
        assert_eq!(words.prev_start(one), None);
        assert_eq!(words.prev_start(text.len()), Some(four));
        assert_eq!(words.end(four), text.len());
        let cut = Words::new(text.as_bytes(), text.len() - 4);
        assert_eq!(
            cut.nth_start(one, 3),
            None,
            "a word cut by the end is left out"
        );
    }
}
