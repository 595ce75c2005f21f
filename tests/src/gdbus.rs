//! A client that knows nothing but an interface XML: `gdbus monitor`
//! (GLib's own client, with a match rule on the name's owner) prints each
//! signal as GVariant text, and [`XmlClient`] reads the arguments by the
//! names and types the XML gives them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::iface::{interface_members, Members};
use crate::procs;
use crate::standin::match_rules_of;
use crate::sysbus::{require_tool, SystemBus};
use crate::wait;

/// A value as GVariant's text format has it (`g_variant_print` with types).
#[derive(Debug, Clone, PartialEq)]
pub enum GValue {
    U64(u64),
    I64(i64),
    U32(u32),
    I32(i32),
    Double(f64),
    Bool(bool),
    Str(String),
    Array(Vec<GValue>),
    /// `@TYPE value`: an annotated value (empty arrays print so).
    Typed(String, Box<GValue>),
    Tuple(Vec<GValue>),
    Variant(Box<GValue>),
    Dict(Vec<(GValue, GValue)>),
}

impl GValue {
    /// Checks the value against a D-Bus type of the XML and unwraps it.
    pub fn conforms_to(&self, ty: &str) -> bool {
        match (ty, self) {
            (t, GValue::Typed(a, v)) => a == t && v.conforms_to_untyped(t),
            ("t", GValue::U64(_))
            | ("x", GValue::I64(_))
            | ("u", GValue::U32(_))
            | ("i", GValue::I32(_))
            | ("d", GValue::Double(_))
            | ("b", GValue::Bool(_))
            | ("s", GValue::Str(_)) => true,
            (t, GValue::Array(items)) if t.starts_with('a') => {
                items.iter().all(|i| i.conforms_to(&t[1..]))
            }
            _ => false,
        }
    }

    fn conforms_to_untyped(&self, ty: &str) -> bool {
        match self {
            GValue::Array(items) if ty.starts_with('a') => {
                items.iter().all(|i| i.conforms_to_untyped(&ty[1..]))
            }
            v => v.conforms_to(ty),
        }
    }

    fn inner(&self) -> &GValue {
        match self {
            GValue::Typed(_, v) | GValue::Variant(v) => v.inner(),
            v => v,
        }
    }

    pub fn u64(&self) -> u64 {
        match self.inner() {
            GValue::U64(v) => *v,
            v => panic!("not a uint64: {v:?}"),
        }
    }

    pub fn i64(&self) -> i64 {
        match self.inner() {
            GValue::I64(v) => *v,
            v => panic!("not an int64: {v:?}"),
        }
    }

    pub fn f64(&self) -> f64 {
        match self.inner() {
            GValue::Double(v) => *v,
            v => panic!("not a double: {v:?}"),
        }
    }

    pub fn bool(&self) -> bool {
        match self.inner() {
            GValue::Bool(v) => *v,
            v => panic!("not a boolean: {v:?}"),
        }
    }

    pub fn str(&self) -> &str {
        match self.inner() {
            GValue::Str(v) => v,
            v => panic!("not a string: {v:?}"),
        }
    }

    pub fn strs(&self) -> Vec<String> {
        match self.inner() {
            GValue::Array(v) => v.iter().map(|s| s.str().to_owned()).collect(),
            v => panic!("not an array: {v:?}"),
        }
    }
}

/// Parses one GVariant text value (the subset D-Bus signals use).
pub fn parse_gvariant(text: &str) -> Result<GValue, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("trailing text at {}: {text}", p.i));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected {:?} at {}", c as char, self.i))
        }
    }

    fn word(&mut self) -> String {
        self.ws();
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || b"-+._".contains(&self.s[self.i]))
        {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn list(&mut self, close: u8) -> Result<Vec<GValue>, String> {
        let mut items = Vec::new();
        if self.eat(close) {
            return Ok(items);
        }
        loop {
            items.push(self.value()?);
            if self.eat(close) {
                return Ok(items);
            }
            self.expect(b',')?;
            // A one-element tuple: `('backup',)`.
            if self.eat(close) {
                return Ok(items);
            }
        }
    }

    fn value(&mut self) -> Result<GValue, String> {
        self.ws();
        match self.peek().ok_or("unexpected end")? {
            b'(' => {
                self.i += 1;
                Ok(GValue::Tuple(self.list(b')')?))
            }
            b'[' => {
                self.i += 1;
                Ok(GValue::Array(self.list(b']')?))
            }
            b'<' => {
                self.i += 1;
                let v = self.value()?;
                self.expect(b'>')?;
                Ok(GValue::Variant(Box::new(v)))
            }
            b'{' => {
                self.i += 1;
                let mut entries = Vec::new();
                if self.eat(b'}') {
                    return Ok(GValue::Dict(entries));
                }
                loop {
                    let k = self.value()?;
                    self.expect(b':')?;
                    let v = self.value()?;
                    entries.push((k, v));
                    if self.eat(b'}') {
                        return Ok(GValue::Dict(entries));
                    }
                    self.expect(b',')?;
                }
            }
            b'@' => {
                self.i += 1;
                let start = self.i;
                while self.i < self.s.len() && !self.s[self.i].is_ascii_whitespace() {
                    self.i += 1;
                }
                let ty = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                let v = self.value()?;
                Ok(GValue::Typed(ty, Box::new(v)))
            }
            q @ (b'\'' | b'"') => self.string(q),
            _ => {
                let w = self.word();
                match w.as_str() {
                    "true" => Ok(GValue::Bool(true)),
                    "false" => Ok(GValue::Bool(false)),
                    "uint64" | "int64" | "uint32" | "int32" | "byte" | "uint16" | "int16"
                    | "handle" => {
                        let n = self.word();
                        let bad = |e: std::num::ParseIntError| format!("{w} {n}: {e}");
                        Ok(match w.as_str() {
                            "uint64" => GValue::U64(n.parse().map_err(bad)?),
                            "int64" => GValue::I64(n.parse().map_err(bad)?),
                            "uint32" => GValue::U32(n.parse().map_err(bad)?),
                            _ => GValue::I32(n.parse().map_err(bad)?),
                        })
                    }
                    // GVariant prints a double with a point or an exponent,
                    // and an int32 as a plain integer.
                    n if n.contains(['.', 'e', 'E']) || n == "inf" || n == "nan" => n
                        .parse()
                        .map(GValue::Double)
                        .map_err(|e| format!("{n}: {e}")),
                    n => n
                        .parse()
                        .map(GValue::I32)
                        .map_err(|e| format!("{n:?} at {}: {e}", self.i)),
                }
            }
        }
    }

    fn string(&mut self, quote: u8) -> Result<GValue, String> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = self.peek().ok_or("unterminated string")?;
            self.i += 1;
            match c {
                c if c == quote => break,
                b'\\' => {
                    let e = self.peek().ok_or("unterminated escape")?;
                    self.i += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'a' => out.push(7),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'v' => out.push(11),
                        b'u' | b'U' => {
                            let n = if e == b'u' { 4 } else { 8 };
                            let hex = std::str::from_utf8(&self.s[self.i..self.i + n])
                                .map_err(|e| e.to_string())?;
                            self.i += n;
                            let ch = u32::from_str_radix(hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .ok_or(format!("bad escape {hex}"))?;
                            let mut buf = [0; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                c => out.push(c),
            }
        }
        String::from_utf8(out)
            .map(GValue::Str)
            .map_err(|e| e.to_string())
    }
}

/// One signal line of `gdbus monitor`:
/// `/path: interface.Member (args…)`.
#[derive(Debug, Clone)]
pub struct MonitorLine {
    pub path: String,
    pub interface: String,
    pub member: String,
    pub args: Vec<GValue>,
}

pub fn parse_monitor_line(line: &str) -> Option<Result<MonitorLine, String>> {
    let (path, rest) = line.split_once(": ")?;
    if !path.starts_with('/') {
        return None;
    }
    let (name, args) = rest.split_once(' ')?;
    let (interface, member) = name.rsplit_once('.')?;
    Some(parse_gvariant(args).and_then(|v| match v {
        GValue::Tuple(args) => Ok(MonitorLine {
            path: path.to_owned(),
            interface: interface.to_owned(),
            member: member.to_owned(),
            args,
        }),
        other => Err(format!("not a tuple: {other:?}")),
    }))
}

/// `gdbus monitor --system --dest NAME`, killed on drop.
///
/// gdbus watches NAME and subscribes to its owner's unique name only once it
/// sees that owner (and without waiting for the bus's answer); with no owner
/// it has no subscription at all. So a monitor is started on a name that
/// has an owner which has sent nothing yet that the test wants (such as
/// `igotchuu serve` before Start), and [`GdbusMonitor::start`] returns once
/// the bus daemon holds gdbus's match rule. The bus must let root read its
/// statistics ([`stats_policy`](crate::standin::stats_policy)).
pub struct GdbusMonitor {
    child: Option<Child>,
    out: PathBuf,
    _dir: TempDir,
}

impl GdbusMonitor {
    /// Starts watching the signals of `name`'s owner; see the type.
    pub fn start(bus: &SystemBus, name: &str) -> Self {
        Self::start_with(bus, bus.command("gdbus"), name)
    }

    /// [`GdbusMonitor::start`] as `user` (through `runuser`).
    pub fn start_as(bus: &SystemBus, name: &str, user: &str) -> Self {
        Self::start_with(bus, bus.command_as(user, "gdbus"), name)
    }

    fn start_with(bus: &SystemBus, mut gdbus: std::process::Command, name: &str) -> Self {
        require_tool("gdbus", "libglib2.0-bin");
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-gdbus-")
            .tempdir()
            .expect("temp dir");
        let out = dir.path().join("monitor.out");
        let child = gdbus
            .args(["monitor", "--system", "--dest", name])
            .stdout(std::fs::File::create(&out).expect("monitor.out"))
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start gdbus monitor");
        let m = GdbusMonitor {
            child: Some(child),
            out,
            _dir: dir,
        };
        let owner = wait::until(
            "gdbus monitor to see the name's owner",
            wait::DEADLINE,
            || {
                let t = m.text();
                assert!(
                    !t.contains("does not have an owner"),
                    "{name} has no owner: gdbus monitor would subscribe only when one comes, \
                 and miss what it sends first"
                );
                let line = t.lines().find(|l| l.contains("is owned by"))?;
                Some(line.rsplit(' ').next()?.trim().to_owned())
            },
        );
        let pid = m.gdbus_pid();
        let rule = format!("sender='{owner}'");
        wait::until(
            "gdbus monitor's match rule on the owner",
            wait::DEADLINE,
            || {
                match_rules_of(bus, pid)
                    .iter()
                    .any(|r| r.contains(&rule))
                    .then_some(())
            },
        );
        m
    }

    /// gdbus's own pid: the child, or (through `runuser`) its descendant.
    fn gdbus_pid(&self) -> u32 {
        let child = self.child.as_ref().expect("running").id() as i32;
        std::iter::once(child)
            .chain(procs::descendants(child))
            .find(|&p| {
                procs::cmdline(p)
                    .and_then(|c| c.split(' ').next().map(|a| a.ends_with("gdbus")))
                    .unwrap_or(false)
            })
            .unwrap_or_else(|| panic!("no gdbus process under pid {child}")) as u32
    }

    /// Everything gdbus printed so far.
    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// The signal lines so far, parsed; panics on a line that does not parse.
    pub fn signals(&self) -> Vec<MonitorLine> {
        self.text()
            .lines()
            .filter_map(|l| parse_monitor_line(l).map(|r| r.unwrap_or_else(|e| panic!("{e}: {l}"))))
            .collect()
    }

    /// Waits until a signal named `member` has been printed.
    pub fn wait_for(&self, member: &str, timeout: Duration) -> Vec<MonitorLine> {
        wait::until(&format!("gdbus monitor to print {member}"), timeout, || {
            let s = self.signals();
            s.iter().any(|l| l.member == member).then_some(s)
        })
    }
}

impl Drop for GdbusMonitor {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // Through runuser, gdbus is its child.
            procs::kill_tree(c.id() as i32);
            let _ = c.wait();
        }
    }
}

/// A signal as a client that knows only an interface XML reads it.
#[derive(Debug, Clone)]
pub struct XmlSignal {
    pub member: String,
    /// Arguments by their XML names.
    pub args: BTreeMap<String, GValue>,
}

/// Reads monitor lines with nothing but an interface XML: argument names
/// and types come from it, and a signal of another shape is an error.
pub struct XmlClient {
    interface: String,
    members: Members,
}

impl XmlClient {
    pub fn new(xml: &str, interface: &str) -> Self {
        XmlClient {
            interface: interface.to_owned(),
            members: interface_members(xml, interface),
        }
    }

    /// Whether the XML has a signal `member`.
    pub fn knows(&self, member: &str) -> bool {
        self.members
            .contains_key(&("signal".to_owned(), member.to_owned()))
    }

    /// `line` read with the XML's names; `None` for other interfaces or
    /// signals the XML does not have. Panics if the arguments do not fit.
    pub fn read(&self, line: &MonitorLine) -> Option<XmlSignal> {
        if line.interface != self.interface {
            return None;
        }
        let m = self
            .members
            .get(&("signal".to_owned(), line.member.clone()))?;
        assert_eq!(
            line.args.len(),
            m.args.len(),
            "{} has {} arguments, the XML says {}: {line:?}",
            line.member,
            line.args.len(),
            m.args.len()
        );
        let mut args = BTreeMap::new();
        for ((name, ty, _), v) in m.args.iter().zip(&line.args) {
            assert!(
                v.conforms_to(ty),
                "{}: argument {name} should be of type {ty}: {v:?}",
                line.member
            );
            args.insert(name.clone(), v.clone());
        }
        Some(XmlSignal {
            member: line.member.clone(),
            args,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_gdbus_prints() {
        let line = "/com/nyantec/igotchuu: com.nyantec.igotchuu1.Progress (uint64 3, uint64 0, 0.5, uint64 12, uint64 6, uint64 4096, uint64 2048, uint64 0, ['/a b', \"it's\"])";
        let l = parse_monitor_line(line).unwrap().unwrap();
        assert_eq!(
            (l.path.as_str(), l.interface.as_str(), l.member.as_str()),
            ("/com/nyantec/igotchuu", "com.nyantec.igotchuu1", "Progress")
        );
        assert_eq!(l.args.len(), 9);
        assert_eq!(l.args[0], GValue::U64(3));
        assert_eq!(l.args[2], GValue::Double(0.5));
        assert_eq!(l.args[8].strs(), ["/a b", "it's"]);
        assert!(l.args[8].conforms_to("as"));
        assert!(!l.args[8].conforms_to("s"));
        assert!(!l.args[0].conforms_to("x"));

        let l =
            parse_monitor_line("/x: a.b.C (int64 -3, @as [], true, 'q\\'\\n\\u00e9', 1.0e-5, 2)")
                .unwrap()
                .unwrap();
        assert_eq!(l.args[0].i64(), -3);
        assert!(l.args[1].conforms_to("as") && l.args[1].strs().is_empty());
        assert!(l.args[2].bool());
        assert_eq!(l.args[3].str(), "q'\n\u{e9}");
        assert_eq!(l.args[4].f64(), 1.0e-5);
        assert_eq!(l.args[5], GValue::I32(2));

        let l = parse_monitor_line(
            "/x: org.freedesktop.DBus.Properties.PropertiesChanged ('a.b', {'Phase': <'idle'>}, @as [])",
        )
        .unwrap()
        .unwrap();
        assert_eq!(l.member, "PropertiesChanged");
        assert!(parse_monitor_line("The name a.b is owned by :1.4").is_none());

        let l = parse_monitor_line("/x: a.b.OperationStarted ('backup',)")
            .unwrap()
            .unwrap();
        assert_eq!(l.args, [GValue::Str("backup".into())]);
    }
}
