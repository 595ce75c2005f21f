//! D-Bus introspection XML as clients see it: the members of an interface,
//! with their arguments (name, type, direction, in order), property types
//! and access, and annotations. For the contract file, the seed fixture and
//! live introspection alike.

use std::collections::BTreeMap;
use std::path::Path;

use roxmltree::{Document, Node, ParsingOptions};

/// The contract: `dbus/com.nyantec.igotchuu1.xml`.
pub const CONTRACT_XML: &str = "dbus/com.nyantec.igotchuu1.xml";
/// The seed README's interface, copied verbatim.
pub const SEED_XML: &str = "dbus/tests/fixtures/seed-interface.xml";

/// Reads a file of the repository.
pub fn read_repo_file(rel: &str) -> String {
    let path = crate::repo_root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Parses introspection (or polkit) XML; DOCTYPEs are allowed, never fetched.
pub fn parse_xml(xml: &str) -> Document<'_> {
    let opts = ParsingOptions {
        allow_dtd: true,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(xml, opts).expect("well-formed XML")
}

/// One method, signal or property, as far as clients can see it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    pub kind: String,
    pub name: String,
    /// Arguments as (name, type, direction); a property's ("", type, access).
    pub args: Vec<(String, String, String)>,
    /// `name=value` of each annotation on the member.
    pub annotations: Vec<String>,
}

pub type Members = BTreeMap<(String, String), Member>;

pub fn element_children<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(Node::is_element)
}

/// The `<interface>` called `name` directly below the root `<node>`.
pub fn find_interface<'a, 'i>(doc: &'a Document<'i>, name: &str) -> Option<Node<'a, 'i>> {
    element_children(doc.root_element())
        .find(|n| n.has_tag_name("interface") && n.attribute("name") == Some(name))
}

/// Names of the interfaces directly below the root `<node>`.
pub fn interface_names(doc: &Document) -> Vec<String> {
    element_children(doc.root_element())
        .filter(|n| n.has_tag_name("interface"))
        .filter_map(|n| n.attribute("name").map(str::to_owned))
        .collect()
}

pub fn member(node: Node) -> Member {
    let kind = node.tag_name().name().to_owned();
    let name = node.attribute("name").expect("a name").to_owned();
    let args = if kind == "property" {
        vec![(
            String::new(),
            node.attribute("type").expect("a type").to_owned(),
            node.attribute("access").expect("an access").to_owned(),
        )]
    } else {
        element_children(node)
            .filter(|a| a.has_tag_name("arg"))
            .map(|a| {
                // Method arguments are "in" unless they say otherwise; a
                // signal's are always out, whether it says so or not.
                let dir = match (kind.as_str(), a.attribute("direction")) {
                    ("method", None) => "in",
                    ("signal", Some("out")) | (_, None) => "",
                    (_, Some(d)) => d,
                };
                (
                    a.attribute("name").unwrap_or_default().to_owned(),
                    a.attribute("type").expect("an arg type").to_owned(),
                    dir.to_owned(),
                )
            })
            .collect()
    };
    let annotations = element_children(node)
        .filter(|a| a.has_tag_name("annotation"))
        .map(|a| {
            format!(
                "{}={}",
                a.attribute("name").unwrap_or_default(),
                a.attribute("value").unwrap_or_default()
            )
        })
        .collect();
    Member {
        kind,
        name,
        args,
        annotations,
    }
}

pub fn members(iface: Node) -> Members {
    element_children(iface)
        .map(member)
        .map(|m| ((m.kind.clone(), m.name.clone()), m))
        .collect()
}

/// The members of interface `name` in `xml`; panics if it has none.
pub fn interface_members(xml: &str, name: &str) -> Members {
    let doc = parse_xml(xml);
    let iface = find_interface(&doc, name).unwrap_or_else(|| {
        panic!(
            "no interface {name} in the XML (it has {:?}):\n{xml}",
            interface_names(&doc)
        )
    });
    members(iface)
}

/// The members of interface `name` in the repository file `rel`.
pub fn repo_interface(rel: &str, name: &str) -> Members {
    assert!(Path::new(rel).is_relative());
    interface_members(&read_repo_file(rel), name)
}

/// A readable diff of two member sets: what only one side has, and what differs.
pub fn diff(left: &str, a: &Members, right: &str, b: &Members) -> Vec<String> {
    let mut out = Vec::new();
    for (k, m) in a {
        match b.get(k) {
            None => out.push(format!("only in {left}: {m:?}")),
            Some(n) if n != m => {
                out.push(format!("{k:?} differs:\n  {left}: {m:?}\n  {right}: {n:?}"))
            }
            Some(_) => {}
        }
    }
    for (k, m) in b {
        if !a.contains_key(k) {
            out.push(format!("only in {right}: {m:?}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_members_with_their_arguments_in_order() {
        let xml = r#"<node><interface name="a.B">
            <method name="M"><arg name="x" type="s"/><arg name="y" type="u" direction="out"/></method>
            <signal name="S"><arg name="p" type="t" direction="out"/><arg name="q" type="d"/></signal>
            <property name="P" type="as" access="read">
              <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="false"/>
            </property>
        </interface></node>"#;
        let m = interface_members(xml, "a.B");
        let get = |k: &str, n: &str| m[&(k.to_owned(), n.to_owned())].clone();
        assert_eq!(
            get("method", "M").args,
            [
                ("x".into(), "s".into(), "in".into()),
                ("y".into(), "u".into(), "out".into())
            ]
        );
        assert_eq!(
            get("signal", "S").args,
            [
                ("p".into(), "t".into(), String::new()),
                ("q".into(), "d".into(), String::new())
            ]
        );
        let p = get("property", "P");
        assert_eq!(p.args, [(String::new(), "as".into(), "read".into())]);
        assert_eq!(
            p.annotations,
            ["org.freedesktop.DBus.Property.EmitsChangedSignal=false"]
        );
        let other = interface_members(&xml.replace(r#"type="d""#, r#"type="t""#), "a.B");
        assert_eq!(diff("x", &m, "y", &other).len(), 1);
    }
}
