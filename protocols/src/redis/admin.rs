//! Server administration over RESP: AUTH and `requirepass`, CONFIG GET/SET
//! for the settings Orbit has, the ACL commands Orbit answers (one user,
//! `default`), DEBUG (refused, as Redis does by default), CLIENT KILL.
//! Replies and error texts follow Redis 7.0.

use super::session::{err, ok, Session};
use crate::resp::codec::Frame;

/// What `requirepass` gates: a connection that has not authenticated may
/// only run these.
pub(super) const ALLOWED_BEFORE_AUTH: &[&str] = &["auth", "hello", "quit"];

pub(super) const NOAUTH: &str = "NOAUTH Authentication required.";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// One CONFIG parameter: its name, and whether CONFIG SET may change it.
struct Parameter {
    name: &'static str,
    mutable: bool,
}

/// The parameters CONFIG GET knows, in the order it lists them.
const PARAMETERS: &[Parameter] = &[
    Parameter {
        name: "requirepass",
        mutable: true,
    },
    Parameter {
        name: "proto-max-bulk-len",
        mutable: true,
    },
    Parameter {
        name: "databases",
        mutable: false,
    },
    Parameter {
        name: "port",
        mutable: false,
    },
    Parameter {
        name: "bind",
        mutable: false,
    },
    Parameter {
        name: "appendonly",
        mutable: false,
    },
    Parameter {
        name: "appendfsync",
        mutable: false,
    },
    Parameter {
        name: "save",
        mutable: false,
    },
    Parameter {
        name: "maxmemory",
        mutable: false,
    },
    Parameter {
        name: "timeout",
        mutable: false,
    },
];

/// A size as Redis configs write them: bytes, or with k/kb/m/mb/g/gb.
fn parse_memory(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let (digits, unit) = match lower.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => lower.split_at(at),
        None => (lower.as_str(), ""),
    };
    let value: usize = digits.parse().ok()?;
    let factor = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    value.checked_mul(factor)
}

impl Session {
    /// True when this connection must AUTH before running `name`.
    pub(super) fn needs_auth(&self, name: &str) -> bool {
        !self.authenticated
            && self.shared.settings().requirepass.is_some()
            && !ALLOWED_BEFORE_AUTH.contains(&name)
    }

    /// Checks a password for `user` (only `default` exists), given through
    /// command `object`; a failure is counted, logged and kept in ACL LOG.
    pub(super) fn check_password(
        &self,
        object: &str,
        user: &[u8],
        password: &[u8],
    ) -> Result<(), Frame> {
        let accepted = match self.shared.settings().requirepass {
            _ if user != b"default" => false,
            Some(expected) => super::auth::password_matches(&expected, password),
            // No password: the default user accepts any (Redis's nopass).
            None => true,
        };
        if accepted {
            return Ok(());
        }
        self.shared.auth_failures.record(
            object,
            user,
            self.transaction.is_some(),
            self.shared.client_line(self.id),
        );
        Err(err(WRONGPASS))
    }

    /// AUTH [username] password.
    pub(super) fn auth(&mut self, args: &[Vec<u8>]) -> Frame {
        let (user, password) = match args {
            [password] => (&b"default"[..], password),
            [user, password] => (user.as_slice(), password),
            _ => return err(orbit_core::redis::output::errors::SYNTAX),
        };
        if args.len() == 1 && self.shared.settings().requirepass.is_none() {
            return err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
        }
        match self.check_password("AUTH", user, password) {
            Ok(()) => {
                self.authenticated = true;
                ok()
            }
            Err(frame) => frame,
        }
    }

    /// CONFIG GET / SET / RESETSTAT / REWRITE.
    pub(super) fn config(&mut self, args: &[Vec<u8>]) -> Frame {
        let sub = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
        match (sub.as_str(), &args[1..]) {
            ("GET", patterns) if !patterns.is_empty() => self.config_get(patterns),
            ("SET", pairs) if !pairs.is_empty() && pairs.len() % 2 == 0 => self.config_set(pairs),
            ("RESETSTAT", []) => {
                self.shared.reset_stats();
                ok()
            }
            ("REWRITE", []) => err("ERR CONFIG REWRITE is not supported by Orbit: edit the TOML file given with --config"),
            ("GET" | "SET" | "RESETSTAT" | "REWRITE", _) => err(format!(
                "ERR Unknown subcommand or wrong number of arguments for '{}'. Try CONFIG HELP.",
                sub.to_ascii_lowercase()
            )),
            _ => err(format!(
                "ERR unknown subcommand '{}'. Try CONFIG HELP.",
                String::from_utf8_lossy(&args[0])
            )),
        }
    }

    fn config_value(&self, name: &str) -> String {
        let settings = self.shared.settings();
        let addr = &self.shared.resp_addr;
        match name {
            "requirepass" => settings
                .requirepass
                .map(|p| String::from_utf8_lossy(&p).into_owned())
                .unwrap_or_default(),
            "proto-max-bulk-len" => settings.limits.bulk_len_max.to_string(),
            "databases" => orbit_core::ids::DB_COUNT.to_string(),
            "port" => addr.rsplit(':').next().unwrap_or("").to_string(),
            "bind" => addr
                .rsplit_once(':')
                .map(|(host, _)| host.to_string())
                .unwrap_or_default(),
            // Every write is in the fsynced Raft log before it is acknowledged.
            "appendonly" => "yes".to_string(),
            "appendfsync" => "always".to_string(),
            "maxmemory" | "timeout" => "0".to_string(),
            _ => String::new(),
        }
    }

    fn config_get(&self, patterns: &[Vec<u8>]) -> Frame {
        let mut pairs = Vec::new();
        for parameter in PARAMETERS {
            let matched = patterns.iter().any(|p| {
                orbit_core::redis::glob::glob_match(
                    &p.to_ascii_lowercase(),
                    parameter.name.as_bytes(),
                    true,
                )
            });
            if matched {
                pairs.push((
                    Frame::Bulk(parameter.name.as_bytes().to_vec()),
                    Frame::Bulk(self.config_value(parameter.name).into_bytes()),
                ));
            }
        }
        Frame::Map(pairs)
    }

    /// CONFIG SET name value [name value ...]: all or nothing, as in Redis 7.
    fn config_set(&mut self, pairs: &[Vec<u8>]) -> Frame {
        let mut changes = Vec::new();
        for pair in pairs.chunks(2) {
            let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
            let value = String::from_utf8_lossy(&pair[1]).into_owned();
            let Some(parameter) = PARAMETERS.iter().find(|p| p.name == name) else {
                return err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                ));
            };
            if !parameter.mutable {
                return err(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
                ));
            }
            if name == "proto-max-bulk-len" && parse_memory(&value).is_none_or(|n| n < 1024 * 1024)
            {
                return err(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - argument must be a memory value of at least 1mb"
                ));
            }
            changes.push((name, value));
        }
        self.shared.change_settings(|settings| {
            for (name, value) in changes {
                match name.as_str() {
                    "requirepass" => {
                        settings.requirepass = (!value.is_empty()).then(|| value.into_bytes());
                    }
                    "proto-max-bulk-len" => {
                        if let Some(n) = parse_memory(&value) {
                            settings.limits.bulk_len_max = n;
                        }
                    }
                    _ => {}
                }
            }
        });
        ok()
    }

    /// The ACL subcommands Orbit answers: one user, `default`, with every
    /// permission. Creating users and categories is refused with a clear
    /// error.
    pub(super) fn acl(&mut self, args: &[Vec<u8>]) -> Frame {
        let sub = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
        let bulk = |s: &str| Frame::Bulk(s.as_bytes().to_vec());
        match (sub.as_str(), args.len()) {
            ("WHOAMI", 1) => bulk("default"),
            ("USERS", 1) => Frame::Array(vec![bulk("default")]),
            ("LIST", 1) => {
                let password = if self.shared.settings().requirepass.is_some() {
                    "#<password set>"
                } else {
                    "nopass"
                };
                Frame::Array(vec![bulk(&format!("user default on {password} ~* &* +@all"))])
            }
            ("CAT", 1) => Frame::Array(
                ["keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "connection", "transaction", "server"]
                    .iter()
                    .map(|c| bulk(c))
                    .collect(),
            ),
            ("LOG", 1 | 2) => self.shared.auth_failures.acl_log(&args[1..]),
            ("SETUSER" | "DELUSER" | "GETUSER" | "SAVE" | "LOAD" | "DRYRUN" | "GENPASS", _) => err(format!(
                "ERR ACL {sub} is not supported by Orbit: it has one user, 'default', whose password is requirepass"
            )),
            _ => err(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
                String::from_utf8_lossy(&args[0])
            )),
        }
    }

    /// ORBIT MEMBER REMOVE node-id: removes a voter, through the leader,
    /// unless what remains could not commit (see
    /// `orbit_net::membership::removal_leaves_quorum`). To replace a dead
    /// node, remove it, then start its successor with an empty data
    /// directory and `--join`.
    pub(super) async fn orbit(&mut self, args: &[Vec<u8>]) -> Frame {
        let words: Vec<String> = args
            .iter()
            .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase())
            .collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["MEMBER", "REMOVE", _] => {
                let Some(node_id) = super::lower::parse_i64(&args[2])
                    .and_then(|id| u64::try_from(id).ok())
                    .filter(|id| *id > 0)
                else {
                    return err("ERR node id must be a positive integer");
                };
                match self.shared.node.remove_member_through_leader(node_id).await {
                    Ok(()) => ok(),
                    Err(why) => err(format!("ERR {why}")),
                }
            }
            ["HELP"] => Frame::Array(
                [
                    "ORBIT <subcommand> [<arg> ...]. Subcommands are:",
                    "MEMBER REMOVE <node-id>",
                    "    Remove a voter (refused if the rest could not commit).",
                ]
                .iter()
                .map(|line| Frame::SimpleString(line.as_bytes().to_vec()))
                .collect(),
            ),
            _ => err(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try ORBIT HELP.",
                String::from_utf8_lossy(&args[0])
            )),
        }
    }

    /// CLIENT KILL addr, or CLIENT KILL [ID id] [ADDR addr] [SKIPME yes|no].
    pub(super) fn client_kill(&mut self, args: &[Vec<u8>]) -> Frame {
        if let [addr] = args {
            let addr = String::from_utf8_lossy(addr).into_owned();
            let killed = self.shared.kill_clients(None, |_, c| c.addr == addr);
            return if killed == 0 {
                err("ERR No such client")
            } else {
                ok()
            };
        }
        let mut id = None;
        let mut addr = None;
        let mut skip_me = true;
        for pair in args.chunks(2) {
            let [filter, value] = pair else {
                return err(orbit_core::redis::output::errors::SYNTAX);
            };
            let value = String::from_utf8_lossy(value).into_owned();
            match String::from_utf8_lossy(filter)
                .to_ascii_uppercase()
                .as_str()
            {
                "ID" => match value.parse::<u64>() {
                    Ok(n) => id = Some(n),
                    Err(_) => return err("ERR client-id should be greater than 0"),
                },
                "ADDR" => addr = Some(value),
                "SKIPME" => match value.to_ascii_lowercase().as_str() {
                    "yes" => skip_me = true,
                    "no" => skip_me = false,
                    _ => return err(orbit_core::redis::output::errors::SYNTAX),
                },
                _ => return err(orbit_core::redis::output::errors::SYNTAX),
            }
        }
        let skip = skip_me.then_some(self.id);
        let killed = self.shared.kill_clients(skip, |client_id, client| {
            id.is_none_or(|id| id == client_id) && addr.as_ref().is_none_or(|a| *a == client.addr)
        });
        Frame::Integer(i64::try_from(killed).unwrap_or(i64::MAX))
    }
}

/// DEBUG's reply: refused, with Redis 7's text for a server that does not
/// enable it.
pub(super) fn debug_refused() -> Frame {
    err("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.")
}
