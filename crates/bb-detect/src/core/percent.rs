//! Percent-encoded regions decoded and scanned for credential formats.

use super::State;
use super::decoded::{decode_segment, for_runs};
use crate::decode::{has_pct_escape, is_b64, is_hex, is_urlch, pct_decode};
use crate::entropy::MIN_TOKEN_LEN;
use crate::{Detector, Engine, Finding};

/// Longest percent-encoded region decoded at once.
const PCT_CAP: usize = 4096;

/// Percent-encoded regions: decoded (twice if needed) and scanned for credential formats,
/// also inside base64/hex segments of the decoded text.
pub(super) fn pct_pass(
    eng: &Engine,
    st: &mut State,
    data: &[u8],
    at_end: bool,
    found: &mut Vec<Finding>,
) -> usize {
    let base = st.base;
    let n = data.len();
    let left = |q: usize| {
        let mut l = q;
        while l > 0 && q - l < PCT_CAP && is_urlch(data[l - 1]) {
            l -= 1;
        }
        l
    };
    let mut i = st.pct_done.max(base) - base;
    while let Some(off) = memchr::memchr(b'%', &data[i..]) {
        let q = i + off;
        if q + 2 >= n {
            if !at_end {
                st.pct_done = base + q;
                return base + left(q);
            }
            break;
        }
        if !(is_hex(data[q + 1]) && is_hex(data[q + 2])) {
            i = q + 1;
            continue;
        }
        let l = left(q);
        let mut r = q;
        while r < n && r - l < PCT_CAP && is_urlch(data[r]) {
            r += 1;
        }
        if r == n && !at_end && r - l < PCT_CAP {
            st.pct_done = base + q;
            return base + l;
        }
        pct_region(eng, data, l, r, &mut |rule, s, e| {
            found.push(Finding {
                detector: Detector::TokenPatterns,
                rule: rule.to_string(),
                start: base + s,
                end: base + e,
            })
        });
        i = r.max(q + 1);
    }
    st.pct_done = base + n;
    base + left(n)
}

fn pct_region(
    eng: &Engine,
    data: &[u8],
    l: usize,
    r: usize,
    sink: &mut dyn FnMut(&str, usize, usize),
) {
    let reg = &data[l..r];
    let (mut dec, mut map) = (Vec::new(), Vec::new());
    pct_decode(reg, &mut dec, &mut map);
    if has_pct_escape(&dec) {
        let (mut dec2, mut map2) = (Vec::new(), Vec::new());
        pct_decode(&dec, &mut dec2, &mut map2);
        map = map2.iter().map(|&j| map[j]).collect();
        dec = dec2;
    }
    let mut report = |rule: &str, suffix: &str, ds: usize, de: usize| {
        let s = l + map[ds];
        let e = l + map.get(de).copied().unwrap_or(reg.len());
        if data[s..e].contains(&b'%') {
            sink(&format!("{rule}/url{suffix}"), s, e);
        }
    };
    eng.tokens
        .pass_whole(&dec, &mut |_, rule, s, e| report(rule, "", s, e));
    for_runs(&dec, is_b64, MIN_TOKEN_LEN, |i, j| {
        decode_segment(eng, false, &dec[i..j], &mut |_, rule, suffix, s, e| {
            report(rule, suffix, i + s, i + e)
        });
    });
}
