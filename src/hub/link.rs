//! The `Link` header (RFC 8288): the target of the link whose relation types include one, as
//! the Hub's tree API names its next page (`<url>; rel="next"`).

/// The target (between `<` and `>`) of the first link of `header` whose `rel` holds the
/// relation type `relation`, compared without regard to case. `rel` is a token or a quoted,
/// space-separated list (`rel=next`, `rel="next last"`); only a link's first `rel` counts.
pub fn target<'a>(header: &'a str, relation: &str) -> Option<&'a str> {
    let mut rest = header;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
        let after_open = rest.strip_prefix('<')?;
        let close = after_open.find('>')?;
        let uri = &after_open[..close];
        rest = &after_open[close + 1..];
        let mut rel = None;
        while let Some(param) = rest.trim_start().strip_prefix(';') {
            let (name, value, after) = parameter(param);
            rest = after;
            if name.eq_ignore_ascii_case("rel") && rel.is_none() {
                rel = Some(value);
            }
        }
        let has_relation = rel.is_some_and(|rel| {
            rel.split_ascii_whitespace()
                .any(|t| t.eq_ignore_ascii_case(relation))
        });
        if has_relation {
            return Some(uri);
        }
        // What follows the parameters of a link is a ',' and the next link.
        rest = &rest[rest.find(',')?..];
    }
}

/// One `name[=value]` parameter at the start of `text`, its value unquoted, and what follows it.
fn parameter(text: &str) -> (&str, String, &str) {
    let text = text.trim_start();
    let name_end = text
        .find(|c: char| c == '=' || c == ';' || c == ',' || c.is_ascii_whitespace())
        .unwrap_or(text.len());
    let name = &text[..name_end];
    let Some(value) = text[name_end..].trim_start().strip_prefix('=') else {
        return (name, String::new(), &text[name_end..]);
    };
    let value = value.trim_start();
    let Some(quoted) = value.strip_prefix('"') else {
        let end = value
            .find(|c: char| c == ';' || c == ',' || c.is_ascii_whitespace())
            .unwrap_or(value.len());
        return (name, value[..end].to_string(), &value[end..]);
    };
    let mut unquoted = String::new();
    let mut chars = quoted.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => unquoted.extend(chars.next().map(|(_, escaped)| escaped)),
            '"' => return (name, unquoted, &quoted[at + 1..]),
            c => unquoted.push(c),
        }
    }
    (name, unquoted, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_in_every_spelling_rfc_8288_allows() {
        for header in [
            r#"<https://h/p2>; rel="next""#,
            "<https://h/p2>; rel=next",
            "<https://h/p2>;rel=NEXT",
            r#"<https://h/p2>; rel="next last""#,
            r#"<https://h/p2> ; rel = "last  next""#,
            r#"<https://h/p1>; rel="prev", <https://h/p2>; rel="next""#,
            r#"<https://h/p0>; title="a, b; rel=next"; rel=prev, <https://h/p2>; rel=next"#,
            r#"<https://h/p0>; title="say \"rel=next\"", <https://h/p2>; rel="next""#,
        ] {
            assert_eq!(target(header, "next"), Some("https://h/p2"), "{header}");
        }
        assert_eq!(
            target("<https://h/a?x=1,2>; rel=next", "next"),
            Some("https://h/a?x=1,2")
        );
    }

    #[test]
    fn no_next_link_where_there_is_none() {
        for header in [
            "",
            r#"<https://h/p1>; rel="prev""#,
            r#"<https://h/p1>; rel="nextpage""#,
            "<https://h/p1>; rel=prev; rel=next",
            r#"<https://h/p1>; title="next""#,
            "https://h/p1; rel=next",
        ] {
            assert_eq!(target(header, "next"), None, "{header}");
        }
    }
}
