//! `allow_patterns` / `ignore_patterns` as huggingface_hub applies them.
//!
//! huggingface_hub (`utils/_paths.py`, `filter_repo_objects`) matches repo
//! paths with Python's `fnmatch.fnmatchcase`: `*` matches any run of
//! characters *including* `/`, `?` one character, `[seq]` / `[!seq]` one
//! character in / not in a set, and nothing can be escaped. A pattern ending
//! in `/` gets `*` appended so it selects a whole folder, and `\` is read as
//! `/` in patterns and paths (as huggingface_hub 2.4 does). The bracket rules reproduce what CPython's
//! `fnmatch.translate` makes of a set, quirks included (an unclosed `[` is a
//! literal, a reversed range such as `z-a` is dropped).

/// A compiled allow list and ignore list.
#[derive(Debug, Clone)]
pub struct PathFilter {
    allow: Vec<Pattern>,
    ignore: Vec<Pattern>,
}

impl PathFilter {
    /// Compiles the patterns. An empty `allow` list allows every path (as
    /// huggingface_hub's `allow_patterns=None`); `ignore` removes paths from
    /// what `allow` lets through. Like `fnmatch`, it takes every string as a pattern (an
    /// unclosed `[` is literal text).
    pub fn new(allow: &[String], ignore: &[String]) -> Self {
        Self {
            allow: allow.iter().map(|p| Pattern::from_hub_pattern(p)).collect(),
            ignore: ignore
                .iter()
                .map(|p| Pattern::from_hub_pattern(p))
                .collect(),
        }
    }

    /// Whether the repo path (relative, `/`-separated) is kept: it matches
    /// an allow pattern (or there are none) and matches no ignore pattern.
    pub fn matches(&self, path: &str) -> bool {
        let path: Vec<char> = path.chars().map(backslash_to_slash).collect();
        let allowed = self.allow.is_empty() || self.allow.iter().any(|p| p.matches(&path));
        allowed && !self.ignore.iter().any(|p| p.matches(&path))
    }
}

fn backslash_to_slash(c: char) -> char {
    if c == '\\' {
        '/'
    } else {
        c
    }
}

/// One pattern, as a sequence of tokens each matching one character except `AnyRun`.
#[derive(Debug, Clone)]
struct Pattern {
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`
    AnyChar,
    /// `*`: any run of characters, `/` included.
    AnyRun,
    /// `[...]`
    Set(CharSet),
}

/// A bracket expression: inclusive ranges, single characters being `(c, c)`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CharSet {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl CharSet {
    fn contains(&self, c: char) -> bool {
        let in_ranges = self.ranges.iter().any(|&(low, high)| low <= c && c <= high);
        in_ranges != self.negated
    }
}

impl Token {
    fn matches_char(&self, c: char) -> bool {
        match self {
            Token::Literal(literal) => *literal == c,
            Token::AnyChar => true,
            Token::AnyRun => false,
            Token::Set(set) => set.contains(c),
        }
    }
}

impl Pattern {
    /// A pattern as huggingface_hub prepares it: `\` read as `/`, and `*`
    /// appended to a pattern that ends in `/`.
    fn from_hub_pattern(pattern: &str) -> Self {
        let mut chars: Vec<char> = pattern.chars().map(backslash_to_slash).collect();
        if chars.last() == Some(&'/') {
            chars.push('*');
        }
        Self::fnmatch(&chars)
    }

    /// A pattern exactly as `fnmatch.fnmatchcase` reads it.
    fn fnmatch(pattern: &[char]) -> Self {
        let mut tokens = Vec::new();
        let mut index = 0;
        while index < pattern.len() {
            let c = pattern[index];
            index += 1;
            match c {
                '*' if tokens.last() == Some(&Token::AnyRun) => {}
                '*' => tokens.push(Token::AnyRun),
                '?' => tokens.push(Token::AnyChar),
                '[' => match closing_bracket(pattern, index) {
                    Some(close) => {
                        tokens.push(bracket_token(&pattern[index..close]));
                        index = close + 1;
                    }
                    None => tokens.push(Token::Literal('[')),
                },
                _ => tokens.push(Token::Literal(c)),
            }
        }
        Self { tokens }
    }

    /// Whole-string match. Every token but `*` consumes exactly one
    /// character, so on a mismatch it suffices to let the latest `*` take one
    /// more character and retry from there.
    fn matches(&self, text: &[char]) -> bool {
        let tokens = &self.tokens;
        let (mut token_index, mut text_index) = (0, 0);
        // (token after the latest `*`, text position that `*` currently stops at)
        let mut latest_star: Option<(usize, usize)> = None;
        while text_index < text.len() {
            match tokens.get(token_index) {
                Some(Token::AnyRun) => {
                    token_index += 1;
                    latest_star = Some((token_index, text_index));
                    continue;
                }
                Some(token) if token.matches_char(text[text_index]) => {
                    token_index += 1;
                    text_index += 1;
                    continue;
                }
                _ => {}
            }
            let Some((after_star, star_end)) = latest_star else {
                return false;
            };
            latest_star = Some((after_star, star_end + 1));
            token_index = after_star;
            text_index = star_end + 1;
        }
        tokens[token_index..].iter().all(|t| *t == Token::AnyRun)
    }
}

/// Index of the `]` closing a set whose content starts at `start`, as fnmatch
/// finds it: a `]` right after `[` or `[!` belongs to the set.
fn closing_bracket(pattern: &[char], start: usize) -> Option<usize> {
    let mut index = start;
    if pattern.get(index) == Some(&'!') {
        index += 1;
    }
    if pattern.get(index) == Some(&']') {
        index += 1;
    }
    (index..pattern.len()).find(|&i| pattern[i] == ']')
}

/// What a set's regular expression is made of once fnmatch has rewritten it:
/// characters that stand for themselves, and unescaped `-` between two of
/// them that make a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetItem {
    Char(char),
    RangeDash,
}

/// The token for the content of `[...]` (without the brackets).
fn bracket_token(content: &[char]) -> Token {
    let items = set_items(content);
    match items.as_slice() {
        // fnmatch emits `(?!)` for a set whose ranges were all dropped.
        [] => Token::Set(CharSet {
            negated: false,
            ranges: Vec::new(),
        }),
        [SetItem::Char('!')] => Token::AnyChar,
        [SetItem::Char('!'), rest @ ..] => Token::Set(CharSet {
            negated: true,
            ranges: set_ranges(rest),
        }),
        _ => Token::Set(CharSet {
            negated: false,
            ranges: set_ranges(&items),
        }),
    }
}

/// Splits the content into chunks at the `-` that form ranges, drops reversed
/// ranges, and joins the chunks back with range dashes, as fnmatch does.
fn set_items(content: &[char]) -> Vec<SetItem> {
    let chunks = if content.contains(&'-') {
        drop_reversed_ranges(range_chunks(content))
    } else {
        vec![content.to_vec()]
    };
    let mut items = Vec::new();
    for (index, chunk) in chunks.iter().enumerate() {
        if index > 0 {
            items.push(SetItem::RangeDash);
        }
        items.extend(chunk.iter().map(|&c| SetItem::Char(c)));
    }
    items
}

/// The pieces between range-forming hyphens. A hyphen forms a range unless it
/// is the first character (after `!`) or directly follows the end of the
/// previous range; a trailing hyphen is literal.
fn range_chunks(content: &[char]) -> Vec<Vec<char>> {
    let mut chunks = Vec::new();
    let mut chunk_start = 0;
    let mut search_from = if content.first() == Some(&'!') { 2 } else { 1 };
    while let Some(offset) = content
        .get(search_from..)
        .and_then(|rest| rest.iter().position(|&c| c == '-'))
    {
        let hyphen = search_from + offset;
        chunks.push(content[chunk_start..hyphen].to_vec());
        chunk_start = hyphen + 1;
        search_from = hyphen + 3;
    }
    let last = content[chunk_start..].to_vec();
    match chunks.last_mut() {
        Some(previous) if last.is_empty() => previous.push('-'),
        _ => chunks.push(last),
    }
    chunks
}

/// Removes each range whose start is after its end, together with both of its
/// end points, scanning from the right as fnmatch does.
fn drop_reversed_ranges(mut chunks: Vec<Vec<char>>) -> Vec<Vec<char>> {
    for k in (1..chunks.len()).rev() {
        let range_start = *chunks[k - 1]
            .last()
            .expect("only the last chunk can be empty");
        let range_end = chunks[k][0];
        if range_start > range_end {
            let following = chunks.remove(k);
            let previous = &mut chunks[k - 1];
            previous.pop();
            previous.extend_from_slice(&following[1..]);
        }
    }
    chunks
}

/// Reads set items the way Python's `re` reads a class: `a-b` is a range,
/// any other character (a `-` included) stands for itself.
fn set_ranges(items: &[SetItem]) -> Vec<(char, char)> {
    let as_char = |item: &SetItem| match item {
        SetItem::Char(c) => *c,
        SetItem::RangeDash => '-',
    };
    let mut ranges = Vec::new();
    let mut index = 0;
    while index < items.len() {
        let low = as_char(&items[index]);
        match (items.get(index + 1), items.get(index + 2)) {
            (Some(SetItem::RangeDash), Some(high)) => {
                ranges.push((low, as_char(high)));
                index += 3;
            }
            _ => {
                ranges.push((low, low));
                index += 1;
            }
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    fn fnmatchcase(path: &str, pattern: &str) -> bool {
        let pattern: Vec<char> = pattern.chars().collect();
        let path: Vec<char> = path.chars().collect();
        Pattern::fnmatch(&pattern).matches(&path)
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// Runs a Python program with `input` on stdin; None (after saying why) if python3 is absent.
    fn run_python(program: &str, input: &str) -> Option<String> {
        let child = Command::new("python3")
            .args(["-c", program])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        let Ok(mut child) = child else {
            println!("SKIP: python3 is not installed, so Python cannot be used as the oracle");
            return None;
        };
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "python3 failed");
        Some(String::from_utf8(output.stdout).unwrap())
    }

    /// Reads `pattern\tpath` lines, prints 1 / 0 per line for a match, E if fnmatch raised.
    const PYTHON_FNMATCH: &str = r#"
import sys, fnmatch
out = []
for line in sys.stdin.buffer.read().decode("utf-8").split("\n")[:-1]:
    pattern, path = line.split("\t")
    try:
        out.append("1" if fnmatch.fnmatchcase(path, pattern) else "0")
    except Exception:
        out.append("E")
print("".join(out))
"#;

    /// Compares our matcher with Python's on every pair (skipped if python3 is absent).
    fn assert_same_as_python(pairs: &[(String, String)]) {
        let input: String = pairs
            .iter()
            .map(|(pattern, path)| format!("{pattern}\t{path}\n"))
            .collect();
        let Some(python) = run_python(PYTHON_FNMATCH, &input) else {
            return;
        };
        let python: Vec<char> = python.trim().chars().collect();
        assert_eq!(python.len(), pairs.len());
        let mismatches: Vec<String> = pairs
            .iter()
            .zip(&python)
            .filter(|((pattern, path), &expected)| {
                let ours = if fnmatchcase(path, pattern) { '1' } else { '0' };
                ours != expected
            })
            .map(|((pattern, path), expected)| {
                format!("pattern {pattern:?} path {path:?}: python says {expected}")
            })
            .collect();
        assert!(
            mismatches.is_empty(),
            "{} mismatches:\n{}",
            mismatches.len(),
            mismatches.join("\n")
        );
    }

    fn table_pairs() -> Vec<(String, String)> {
        // Whitespace-separated; the empty pattern and the empty path are added separately.
        let patterns = r"* ** ? *.json *.safetensors config.json onnx/* */config.json data/*.json
            **/*.bin a*b*c *a* ?*? [abc] [!abc] [a-c] [!a-c] []] [!]] []a] [!]a] [ [a [! [] [!]
            a[ [[] [\] \* [\\] a\b [*] [?] [-] [a-] [-a] [!-a] [a-c-e] [--0] [z-a] [!z-a] [z-a!] [z-a!x]
            [z-a!-c] [a-cz-a] [z-ab-c] [^a] [a^] [&&] [~|] [.] .* *. */ [é-ü] 日* *[0-9]*
            model-0000?-of-*";
        let paths = r"a b d z x - ! ^ ] [ \ \\ a\b * ? & . / abc axbxc ab config.json
            1_Pooling/config.json onnx/model.onnx onnx data/x.json data/sub/x.json
            model.safetensors a.bin x/y/a.bin .gitattributes é ö 日本 [] ]a 0 -a
            model-00001-of-00002.safetensors";
        let with_empty = |list: &'static str| std::iter::once("").chain(list.split_whitespace());
        with_empty(patterns)
            .flat_map(|pattern| {
                with_empty(paths).map(move |path| (pattern.to_owned(), path.to_owned()))
            })
            .collect()
    }

    /// A small xorshift generator, so the fuzz cases are the same on every run.
    struct Xorshift(u64);

    impl Xorshift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn string(&mut self, alphabet: &[char], max_len: u64) -> String {
            let len = self.next() % (max_len + 1);
            (0..len)
                .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize])
                .collect()
        }
    }

    #[test]
    fn table_agrees_with_python_fnmatchcase() {
        assert_same_as_python(&table_pairs());
    }

    #[test]
    fn random_patterns_agree_with_python_fnmatchcase() {
        let pattern_alphabet: Vec<char> = "ab-z![]^*?/.\\&é".chars().collect();
        let path_alphabet: Vec<char> = "abcz-![]^/.\\é".chars().collect();
        let mut random = Xorshift(0x5eed_1234_abcd_9876);
        let pairs: Vec<(String, String)> = (0..20_000)
            .map(|_| {
                let pattern = random.string(&pattern_alphabet, 9);
                let path = random.string(&path_alphabet, 6);
                (pattern, path)
            })
            .collect();
        assert_same_as_python(&pairs);
    }

    #[test]
    fn star_crosses_slashes_and_folders_take_a_trailing_slash() {
        let filter =
            |allow: &[&str], ignore: &[&str]| PathFilter::new(&strings(allow), &strings(ignore));
        let json = filter(&["*.json"], &[]);
        assert!(json.matches("config.json"));
        assert!(json.matches("1_Pooling/config.json"));
        assert!(!json.matches("model.safetensors"));

        let no_onnx = filter(&[], &["onnx/"]);
        assert!(!no_onnx.matches("onnx/model.onnx"));
        assert!(!no_onnx.matches("onnx/sub/model.onnx"));
        assert!(no_onnx.matches("onnx"));
        assert!(no_onnx.matches("model.onnx"));

        let everything = filter(&[], &[]);
        assert!(everything.matches("anything/at/all"));

        let weights = filter(&["*.safetensors", "config.json"], &["*consolidated*"]);
        assert!(weights.matches("model-00001-of-00002.safetensors"));
        assert!(weights.matches("config.json"));
        assert!(!weights.matches("sub/config.json"));
        assert!(!weights.matches("consolidated.safetensors"));
        assert!(!weights.matches("README.md"));

        let windows_style = filter(&["onnx\\"], &[]);
        assert!(windows_style.matches("onnx/model.onnx"));
        assert!(windows_style.matches("onnx\\model.onnx"));
    }

    #[test]
    fn literal_brackets_and_sets() {
        assert!(fnmatchcase("[", "["));
        assert!(fnmatchcase("[ab", "[ab"));
        assert!(fnmatchcase("]", "[]]"));
        assert!(fnmatchcase("x", "[!]]"));
        assert!(!fnmatchcase("]", "[!]]"));
        assert!(!fnmatchcase("a", "[z-a]"));
        assert!(fnmatchcase("q", "[!z-a]"));
        assert!(fnmatchcase("-", "[a-]"));
        assert!(fnmatchcase("\\", "[\\]"));
        assert!(fnmatchcase("a\nb", "a?b"));
        assert!(fnmatchcase("a\nb", "a*"));
    }

    /// Reads one case from stdin (allow patterns, ignore patterns, paths; one
    /// tab-separated line each, an empty line for none) and prints 1 / 0 per
    /// path for huggingface_hub's `filter_repo_objects`, or SKIP.
    const PYTHON_HUB_FILTER: &str = r#"
import importlib.util, os, sys
spec = importlib.util.find_spec("huggingface_hub")
if spec is None or spec.origin is None:
    print("SKIP"); sys.exit(0)
# Load only utils/_paths.py, which needs nothing but the standard library.
paths_py = os.path.join(os.path.dirname(spec.origin), "utils", "_paths.py")
loader = importlib.util.spec_from_file_location("hub_paths", paths_py)
hub_paths = importlib.util.module_from_spec(loader)
loader.loader.exec_module(hub_paths)
allow, ignore, paths = [l.split("\t") if l else [] for l in sys.stdin.read().split("\n")[:3]]
kept = set(hub_paths.filter_repo_objects(paths, allow_patterns=allow or None, ignore_patterns=ignore or None))
print("".join("1" if p in kept else "0" for p in paths))
"#;

    #[test]
    fn filter_agrees_with_huggingface_hub() {
        let paths = [
            "config.json",
            "1_Pooling/config.json",
            "onnx/model.onnx",
            "onnx/sub/x.onnx",
            "model.safetensors",
            "pytorch_model.bin",
            "sub/pytorch_model.bin",
            ".gitattributes",
            "README.md",
            "tokenizer.json",
            "a\\b.json",
            "openvino/openvino_model.xml",
        ];
        let cases: [(&[&str], &[&str]); 7] = [
            (&[], &[]),
            (&["*.json"], &[]),
            (&[], &["onnx/", "*.bin"]),
            (&["*.json", "*.safetensors"], &["1_Pooling/*"]),
            (&["onnx\\"], &[]),
            (&["[!.]*"], &["*.md"]),
            (&["*"], &["*/*"]),
        ];
        for (allow, ignore) in cases {
            let input = format!(
                "{}\n{}\n{}\n",
                allow.join("\t"),
                ignore.join("\t"),
                paths.join("\t")
            );
            let Some(python) = run_python(PYTHON_HUB_FILTER, &input) else {
                return;
            };
            if python.trim() == "SKIP" {
                println!("SKIP: huggingface_hub is not importable by python3");
                return;
            }
            let filter = PathFilter::new(&strings(allow), &strings(ignore));
            let ours: String = paths
                .iter()
                .map(|p| if filter.matches(p) { '1' } else { '0' })
                .collect();
            assert_eq!(ours, python.trim(), "allow {allow:?} ignore {ignore:?}");
        }
    }
}
