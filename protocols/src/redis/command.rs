//! COMMAND, COMMAND COUNT, COMMAND INFO, COMMAND DOCS, COMMAND LIST.

use super::table::{find, Spec, COMMANDS};
use crate::resp::codec::Frame;

fn bulk(text: &str) -> Frame {
    Frame::Bulk(text.as_bytes().to_vec())
}

/// The ten-element description Redis 7 gives for one command.
fn info(spec: &Spec) -> Frame {
    Frame::Array(vec![
        bulk(spec.name),
        Frame::Integer(i64::from(spec.arity)),
        Frame::Set(
            spec.flags
                .iter()
                .map(|f| Frame::SimpleString(f.as_bytes().to_vec()))
                .collect(),
        ),
        Frame::Integer(i64::from(spec.first_key)),
        Frame::Integer(i64::from(spec.last_key)),
        Frame::Integer(i64::from(spec.step)),
        Frame::Set(vec![Frame::SimpleString(
            format!("@{}", spec.group).into_bytes(),
        )]),
        Frame::Set(Vec::new()),
        Frame::Array(Vec::new()),
        Frame::Array(Vec::new()),
    ])
}

fn docs(spec: &Spec) -> Frame {
    Frame::Map(vec![
        (bulk("summary"), bulk(spec.summary)),
        (bulk("since"), bulk("1.0.0")),
        (bulk("group"), bulk(spec.group)),
    ])
}

fn named<'a>(names: &'a [Vec<u8>]) -> impl Iterator<Item = (String, Option<&'static Spec>)> + 'a {
    names.iter().map(|n| {
        let name = String::from_utf8_lossy(n).to_ascii_lowercase();
        let spec = find(&name);
        (name, spec)
    })
}

pub fn reply(args: &[Vec<u8>]) -> Frame {
    let Some(sub) = args.first() else {
        return Frame::Array(COMMANDS.iter().map(info).collect());
    };
    let sub = String::from_utf8_lossy(sub).to_ascii_uppercase();
    let rest = &args[1..];
    match sub.as_str() {
        "COUNT" if rest.is_empty() => Frame::Integer(COMMANDS.len() as i64),
        "LIST" if rest.is_empty() => Frame::Array(COMMANDS.iter().map(|s| bulk(s.name)).collect()),
        "INFO" if rest.is_empty() => Frame::Array(COMMANDS.iter().map(info).collect()),
        "INFO" => Frame::Array(
            named(rest)
                .map(|(_, spec)| spec.map_or(Frame::NullArray, info))
                .collect(),
        ),
        "DOCS" if rest.is_empty() => {
            Frame::Map(COMMANDS.iter().map(|s| (bulk(s.name), docs(s))).collect())
        }
        "DOCS" => Frame::Map(
            named(rest)
                .filter_map(|(name, spec)| spec.map(|s| (bulk(&name), docs(s))))
                .collect(),
        ),
        "COUNT" | "LIST" => Frame::Error(
            format!(
                "ERR wrong number of arguments for 'command|{}' command",
                sub.to_ascii_lowercase()
            )
            .into_bytes(),
        ),
        _ => Frame::Error(
            format!(
                "ERR unknown subcommand '{}'. Try COMMAND HELP.",
                String::from_utf8_lossy(&args[0])
            )
            .into_bytes(),
        ),
    }
}
