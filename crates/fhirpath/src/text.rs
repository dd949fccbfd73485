//! String helpers: bounded, cached regular expressions and the
//! `encode`/`decode`/`escape`/`unescape` transcodings.

use crate::ast::Func;
use crate::error::{Error, Result};
use regex::{Regex, RegexBuilder};
use std::cell::RefCell;
use std::collections::HashMap;

/// Compiled-program limit: a hostile pattern fails to compile instead of using
/// unbounded memory. (Matching is linear-time in the regex crate.)
const REGEX_SIZE_LIMIT: usize = 1 << 20;
const REGEX_CACHE_ENTRIES: usize = 256;

thread_local! {
    static REGEXES: RefCell<HashMap<(String, bool), Regex>> = RefCell::new(HashMap::new());
}

/// A regex for `matches` (found anywhere) or `matchesFull` (whole string);
/// `.` matches newlines, as the spec asks.
pub fn regex(pattern: &str, full: bool) -> Result<Regex> {
    let key = (pattern.to_string(), full);
    if let Some(re) = REGEXES.with(|c| c.borrow().get(&key).cloned()) {
        return Ok(re);
    }
    let source = if full { format!("^(?:{pattern})$") } else { pattern.to_string() };
    let re = RegexBuilder::new(&source)
        .dot_matches_new_line(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(64)
        .build()
        .map_err(|e| Error::eval(format!("invalid regular expression: {e}")))?;
    REGEXES.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() >= REGEX_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, re.clone());
    });
    Ok(re)
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8], url: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                let c = BASE64[(n >> (18 - 6 * i) & 63) as usize];
                out.push(match (url, c) {
                    (true, b'+') => '-',
                    (true, b'/') => '_',
                    _ => c as char,
                });
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'-' => 62,
            b'_' => 63,
            _ => BASE64.iter().position(|b| *b == c)? as u32,
        };
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

const HTML: &[(char, &str)] = &[('&', "&amp;"), ('<', "&lt;"), ('>', "&gt;"), ('"', "&quot;"), ('\'', "&#39;")];

/// `encode`, `decode`, `escape`, `unescape` with the given format; `None` for an
/// unknown format or undecodable input.
pub fn transcode(func: Func, s: &str, format: &str) -> Option<String> {
    match (func, format) {
        (Func::Encode, "base64") => Some(base64_encode(s.as_bytes(), false)),
        (Func::Encode, "urlbase64") => Some(base64_encode(s.as_bytes(), true)),
        (Func::Encode, "hex") => Some(s.bytes().map(|b| format!("{b:02x}")).collect()),
        (Func::Decode, "base64" | "urlbase64") => String::from_utf8(base64_decode(s)?).ok(),
        (Func::Decode, "hex") => String::from_utf8(hex_decode(s)?).ok(),
        (Func::Escape, "html") => {
            Some(s.chars().map(|c| HTML.iter().find(|(h, _)| *h == c).map_or(c.to_string(), |(_, e)| e.to_string())).collect())
        }
        (Func::Unescape, "html") => Some(HTML.iter().rev().fold(s.to_string(), |acc, (c, e)| acc.replace(e, &c.to_string()))),
        (Func::Escape, "json") => {
            let quoted = serde_json::to_string(s).ok()?;
            Some(quoted[1..quoted.len() - 1].to_string())
        }
        (Func::Unescape, "json") => json_unescape(s),
        _ => None,
    }
}

/// Undoes JSON string escapes; other characters (even a bare `"`) pass through.
fn json_unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
            }
            other => other,
        });
    }
    Some(out)
}
