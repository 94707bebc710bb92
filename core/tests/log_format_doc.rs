//! docs/LOG_FORMAT.md's table of `Command` tags matches the enum: rkyv tags
//! a variant by its place in the declaration, so the table must list the
//! variants of `core/src/redis/command.rs` in that order. (The bytes of every
//! tag and record are pinned by the golden test `storage/tests/golden_format.rs`
//! and its files `storage/tests/golden/format-*.txt`; this test keeps the
//! doc's table true to the declaration.)

fn declared_variants(source: &str) -> Vec<String> {
    let start = source.find("pub enum Command {").expect("the Command enum");
    let body = &source[start..];
    let body = &body[..body.find("\n}\n").expect("its end")];
    body.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("    ")?;
            let name: String = rest
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            name.starts_with(|c: char| c.is_ascii_uppercase())
                .then_some(name)
        })
        .collect()
}

fn documented_tags(doc: &str) -> Vec<(usize, String)> {
    let start = doc
        .find("| tag | variant | tag | variant | tag | variant |")
        .expect("the table");
    let mut tags: Vec<(usize, String)> = doc[start..]
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .flat_map(|line| {
            // "| 0 | Set | 29 | HDel |": cells after the leading empty one.
            let cells: Vec<String> = line
                .split('|')
                .skip(1)
                .map(|c| c.trim().to_string())
                .collect();
            cells
                .chunks(2)
                .filter_map(|pair| match pair {
                    [tag, name] => Some((tag.parse::<usize>().ok()?, name.clone())),
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    tags.sort();
    tags
}

#[test]
fn the_documented_command_tags_are_the_declared_order() {
    // Goal: every variant of Command appears in the doc's table with its
    // tag (its place in the declaration), and nothing else does.
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let source =
        std::fs::read_to_string(format!("{root}/core/src/redis/command.rs")).expect("source");
    let doc = std::fs::read_to_string(format!("{root}/docs/LOG_FORMAT.md")).expect("doc");
    let declared: Vec<(usize, String)> =
        declared_variants(&source).into_iter().enumerate().collect();
    assert!(declared.len() > 80, "found {} variants", declared.len());
    assert_eq!(declared[0].1, "Set");
    assert_eq!(documented_tags(&doc), declared);
}
