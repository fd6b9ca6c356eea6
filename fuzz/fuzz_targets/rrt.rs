//! RRT parsing and expansion on any text with any context. Input: context lines
//! `ID::name=value` (name `$x` protected, `@x` restricted), a line `--`, a field name line,
//! then the text to expand.
//!
//! Properties: `parse` covers the text exactly with its pieces; text without tags expands to
//! itself; with unknown tags left empty expansion fails only for a restricted tag outside the
//! password; with unknown tags an error, every error names a tag of the text; no error
//! contains a protected or restricted value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relaykit::rrt::{Field, Missing, Piece, RrtContext, has_tags, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Some((head, value)) = text.split_once("\n--\n") else { return };
    let (ctx_lines, field_name) = head.rsplit_once('\n').unwrap_or(("", head));

    // Two contexts alike but for the protected and restricted values.
    let env = [("HOME", "/home/fuzz"), ("USER", "fuzz")];
    let mut ctx = RrtContext::new().with_environment(env);
    let mut twin = RrtContext::new().with_environment(env);
    for line in ctx_lines.lines() {
        let Some((tag, v)) = line.split_once('=') else { continue };
        let Some((id, name)) = tag.split_once("::") else { continue };
        let other = "Z".repeat(v.len() + 1);
        if let Some(n) = name.strip_prefix('$') {
            let _ = (ctx.set_protected(id, n, v), twin.set_protected(id, n, &other));
        } else if let Some(n) = name.strip_prefix('@') {
            let _ = (ctx.set_restricted(id, n, v), twin.set_restricted(id, n, &other));
        } else {
            let _ = (ctx.set(id, name, v), twin.set(id, name, v));
        }
    }

    // The pieces tile the text.
    let mut at = 0;
    let mut tags = Vec::new();
    for p in parse(value) {
        let r = match &p {
            Piece::Literal { range, text } => {
                assert_eq!(&value[range.clone()], *text);
                range.clone()
            }
            Piece::Tag { range, .. } => {
                tags.push(&value[range.clone()]);
                range.clone()
            }
        };
        assert_eq!(r.start, at, "pieces leave a gap or overlap");
        assert!(r.end > r.start);
        at = r.end;
    }
    assert_eq!(at, value.len());
    assert_eq!(has_tags(value), !tags.is_empty());

    let field = Field::from_name(field_name);
    for missing in [Missing::Empty, Missing::Error] {
        ctx.set_missing(missing);
        twin.set_missing(missing);
        let twin_err = twin.expand(value, field).err().map(|e| e.to_string());
        let result = ctx.expand(value, field);
        // Whether and how expansion fails never depends on a protected value.
        assert_eq!(result.as_ref().err().map(ToString::to_string), twin_err, "the error depends on a protected value");
        match result {
            Ok(out) => {
                if tags.is_empty() {
                    assert_eq!(out.expose(), value);
                }
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(tags.iter().any(|t| msg.contains(t)), "error names no tag of the text: {msg}");
                if missing == Missing::Empty {
                    assert!(msg.contains("restricted"), "only a restricted tag fails with Missing::Empty: {msg}");
                }
            }
        }
    }
});
