//! Reading a run back from the bus: every signal of the helper's object as
//! one enum, its properties as one struct, and the match rules that bring
//! both to a client in a single ordered stream.
//!
//! A client that follows a run from one `zbus::MessageStream` sees the
//! helper's signals and `NameOwnerChanged` in the order they were sent, and
//! can take signals only from the owner of [`BUS_NAME`] as of the last
//! `NameOwnerChanged` (see [`crate::proxy`] for the rules). So it
//! [`subscribe`]s, and then, for each message: [`owner_change`] tells when
//! the name changes hands, [`from_owner`] whether the current owner sent
//! it, and [`parse`] what it says.
//!
//! A known property of the wrong type fails [`parse`],
//! [`Properties::from_values`] and [`Properties::read`]. Their `_lenient`
//! twins leave it out, hand it to a callback, and keep the rest: for a
//! client that would rather show most of the state than none.

use std::collections::HashMap;

use zbus::fdo::{DBusProxy, PropertiesChanged, PropertiesProxy};
use zbus::message::{Message, Type as MessageType};
use zbus::names::{InterfaceName, OwnedUniqueName, UniqueName};
use zbus::zvariant::OwnedValue;
use zbus::{MatchRule, MessageStream};

use crate::proxy::{BackupComplete, BackupCompleteArgs, BackupFinished, ErrorsFolded};
use crate::{ItemError, Outcome, Phase, Progress, Summary, UnknownName};
use crate::{BUS_NAME, INTERFACE, OBJECT_PATH};

const DBUS_NAME: &str = "org.freedesktop.DBus";
const PROPERTIES_INTERFACE: &str = "org.freedesktop.DBus.Properties";

/// One signal of the helper's object.
#[derive(Debug, Clone, PartialEq)]
pub enum HelperSignal {
    BackupStarted,
    Progress(Progress),
    Error(ItemError),
    ErrorsFolded(u64),
    BackupComplete(Summary),
    BackupFinished {
        /// An [`Outcome`] name; see [`HelperSignal::outcome`].
        outcome: String,
        reason: String,
    },
    /// `PropertiesChanged` for `com.nyantec.igotchuu1`.
    PropertiesChanged(Properties),
}

impl HelperSignal {
    /// A `BackupFinished` signal's outcome; `None` for any other signal.
    pub fn outcome(&self) -> Option<Result<Outcome, UnknownName>> {
        match self {
            Self::BackupFinished { outcome, .. } => Some(outcome.parse()),
            _ => None,
        }
    }
}

/// The helper's properties, each as far as it is known: all of them from a
/// `GetAll`, the changed ones from `PropertiesChanged`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Properties {
    /// `Some(None)`: idle.
    pub phase: Option<Option<Phase>>,
    pub progress: Option<Progress>,
    pub started_at: Option<u64>,
    pub profile: Option<String>,
    pub places: Option<Vec<String>>,
    pub error_count: Option<u64>,
}

impl Properties {
    /// The known properties among `values`. Unknown names are skipped (a
    /// newer helper may have more); a known one of the wrong type is an error.
    pub fn from_values(
        values: impl IntoIterator<Item = (String, OwnedValue)>,
    ) -> zbus::Result<Self> {
        let mut p = Properties::default();
        for (name, value) in values {
            p.set(&name, value)?;
        }
        Ok(p)
    }

    /// As [`from_values`](Self::from_values), but a known property of the
    /// wrong type is left out and handed to `skipped` with its error.
    pub fn from_values_lenient(
        values: impl IntoIterator<Item = (String, OwnedValue)>,
        mut skipped: impl FnMut(&str, zbus::Error),
    ) -> Self {
        let mut p = Properties::default();
        for (name, value) in values {
            if let Err(e) = p.set(&name, value) {
                skipped(&name, e);
            }
        }
        p
    }

    /// All properties of the helper that is `owner` (a unique name, so that
    /// the read never D-Bus-activates anything).
    pub async fn read(conn: &zbus::Connection, owner: &UniqueName<'_>) -> zbus::Result<Self> {
        Self::from_values(get_all(conn, owner).await?)
    }

    /// As [`read`](Self::read), leaving out malformed properties as
    /// [`from_values_lenient`](Self::from_values_lenient) does. Still an
    /// error when the call itself fails.
    pub async fn read_lenient(
        conn: &zbus::Connection,
        owner: &UniqueName<'_>,
        skipped: impl FnMut(&str, zbus::Error),
    ) -> zbus::Result<Self> {
        Ok(Self::from_values_lenient(
            get_all(conn, owner).await?,
            skipped,
        ))
    }

    /// Sets the property `name` if it is a known one. Unknown names are
    /// skipped (a newer helper may have more); on an error, nothing is set.
    fn set(&mut self, name: &str, value: OwnedValue) -> zbus::Result<()> {
        match name {
            "Phase" => {
                let s = String::try_from(value)?;
                self.phase = Some(Phase::from_property(&s).map_err(unknown)?);
            }
            "Progress" => self.progress = Some(Progress::try_from(value)?),
            "StartedAt" => self.started_at = Some(u64::try_from(value)?),
            "Profile" => self.profile = Some(String::try_from(value)?),
            "Places" => self.places = Some(Vec::<String>::try_from(value)?),
            "ErrorCount" => self.error_count = Some(u64::try_from(value)?),
            _ => {}
        }
        Ok(())
    }
}

async fn get_all(
    conn: &zbus::Connection,
    owner: &UniqueName<'_>,
) -> zbus::Result<HashMap<String, OwnedValue>> {
    let proxy = PropertiesProxy::builder(conn)
        .destination(owner.to_owned())?
        .path(OBJECT_PATH)?
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await?;
    Ok(proxy
        .get_all(InterfaceName::from_static_str_unchecked(INTERFACE))
        .await?)
}

fn unknown(e: UnknownName) -> zbus::Error {
    zbus::Error::Failure(e.to_string())
}

/// The helper's signal in `msg`, if it is one (by interface and member;
/// the caller checks the sender and path, see [`from_owner`]). `None` for
/// other messages.
pub fn parse(msg: &Message) -> zbus::Result<Option<HelperSignal>> {
    parse_with(msg, Properties::from_values)
}

/// As [`parse`], but a `PropertiesChanged` keeps its well-formed
/// properties: the others are handed to `skipped`, as
/// [`Properties::from_values_lenient`] does.
pub fn parse_lenient(
    msg: &Message,
    skipped: impl FnMut(&str, zbus::Error),
) -> zbus::Result<Option<HelperSignal>> {
    parse_with(msg, |values| {
        Ok(Properties::from_values_lenient(values, skipped))
    })
}

/// [`parse`], with `properties` reading the values of a `PropertiesChanged`.
fn parse_with(
    msg: &Message,
    properties: impl FnOnce(HashMap<String, OwnedValue>) -> zbus::Result<Properties>,
) -> zbus::Result<Option<HelperSignal>> {
    let header = msg.header();
    if header.message_type() != MessageType::Signal {
        return Ok(None);
    }
    let (Some(interface), Some(member)) = (header.interface(), header.member()) else {
        return Ok(None);
    };
    if interface.as_str() == PROPERTIES_INTERFACE {
        let Some(changed) = PropertiesChanged::from_message(msg.clone()) else {
            return Ok(None);
        };
        let args = changed.args()?;
        if args.interface_name.as_str() != INTERFACE {
            return Ok(None);
        }
        let mut values = HashMap::new();
        for (name, value) in args.changed_properties() {
            values.insert(name.to_string(), OwnedValue::try_from(value)?);
        }
        return properties(values).map(|p| Some(HelperSignal::PropertiesChanged(p)));
    }
    if interface.as_str() != INTERFACE {
        return Ok(None);
    }
    let signal = match member.as_str() {
        "BackupStarted" => HelperSignal::BackupStarted,
        "Progress" => HelperSignal::Progress(msg.body().deserialize::<Progress>()?),
        "Error" => HelperSignal::Error(msg.body().deserialize::<ItemError>()?),
        "ErrorsFolded" => match ErrorsFolded::from_message(msg.clone()) {
            Some(s) => HelperSignal::ErrorsFolded(*s.args()?.count()),
            None => return Ok(None),
        },
        "BackupComplete" => match BackupComplete::from_message(msg.clone()) {
            Some(s) => HelperSignal::BackupComplete(Summary::from(&s.args()?)),
            None => return Ok(None),
        },
        "BackupFinished" => match BackupFinished::from_message(msg.clone()) {
            Some(s) => {
                let args = s.args()?;
                HelperSignal::BackupFinished {
                    outcome: args.outcome().clone(),
                    reason: args.reason().clone(),
                }
            }
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    Ok(Some(signal))
}

impl From<&BackupCompleteArgs<'_>> for Summary {
    /// The signal's fourteen fields; the optional ones (restic 0.17+) do
    /// not travel on the bus.
    fn from(a: &BackupCompleteArgs<'_>) -> Self {
        Summary {
            files_new: *a.files_new(),
            files_changed: *a.files_changed(),
            files_unmodified: *a.files_unmodified(),
            dirs_new: *a.dirs_new(),
            dirs_changed: *a.dirs_changed(),
            dirs_unmodified: *a.dirs_unmodified(),
            data_blobs: *a.data_blobs(),
            tree_blobs: *a.tree_blobs(),
            data_added: *a.data_added(),
            total_files_processed: *a.total_files_processed(),
            total_bytes_processed: *a.total_bytes_processed(),
            total_duration: *a.total_duration(),
            snapshot_id: a.snapshot_id().clone(),
            dry_run: *a.dry_run(),
            ..Default::default()
        }
    }
}

/// Whether `msg` is the bus's `NameOwnerChanged` for [`BUS_NAME`]; then
/// the new owner (`None`: nobody owns it now).
pub fn owner_change(msg: &Message) -> Option<Option<OwnedUniqueName>> {
    let header = msg.header();
    if header.sender().is_none_or(|s| s.as_str() != DBUS_NAME) {
        return None;
    }
    let signal = zbus::fdo::NameOwnerChanged::from_message(msg.clone())?;
    let args = signal.args().ok()?;
    if args.name.as_str() != BUS_NAME {
        return None;
    }
    Some(args.new_owner.as_ref().map(|o| o.to_owned().into()))
}

/// Whether `msg` is a signal on the helper's object sent by `owner`, the
/// name's owner as of the last [`owner_change`]. The match rules admit any
/// sender: this keeps out a stale or rogue one.
pub fn from_owner(msg: &Message, owner: Option<&UniqueName<'_>>) -> bool {
    let header = msg.header();
    let from_owner = matches!((header.sender(), owner), (Some(s), Some(o)) if s == o);
    header.message_type() == MessageType::Signal
        && from_owner
        && header.path().is_some_and(|p| p.as_str() == OBJECT_PATH)
}

/// The match rules a follower adds (with `DBusProxy::add_match_rule`) to
/// hear, in one stream: `NameOwnerChanged` for [`BUS_NAME`], and every
/// signal on the helper's object (its own and `PropertiesChanged`). Check
/// each signal's sender against the owner: the rule admits any sender.
pub fn match_rules() -> [MatchRule<'static>; 2] {
    let names = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .sender(DBUS_NAME)
        .and_then(|b| b.interface(DBUS_NAME))
        .and_then(|b| b.member("NameOwnerChanged"))
        .and_then(|b| b.arg(0, BUS_NAME))
        .expect("valid names")
        .build();
    let object = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .path(OBJECT_PATH)
        .expect("valid path")
        .build();
    [names, object]
}

/// Starts following the helper on `conn`: a stream of all it receives,
/// with the [`match_rules`] added, and the name's owner now. The stream
/// exists before the rules, and the rules before the owner is asked for,
/// so that nothing the helper says falls in between.
pub async fn subscribe(
    conn: &zbus::Connection,
) -> zbus::Result<(MessageStream, Option<OwnedUniqueName>)> {
    let messages = MessageStream::from(conn);
    let dbus = DBusProxy::new(conn).await?;
    for rule in match_rules() {
        dbus.add_match_rule(rule).await?;
    }
    let owner = crate::proxy::owner(conn).await?;
    Ok((messages, owner))
}

#[cfg(test)]
mod tests {
    use zbus::zvariant::Value;

    use super::*;

    fn signal<B>(interface: &str, member: &str, body: &B) -> Message
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        Message::signal(OBJECT_PATH, interface, member)
            .unwrap()
            .build(body)
            .unwrap()
    }

    #[test]
    fn reads_every_signal_of_the_contract() {
        let p = Progress {
            percent_done: 0.25,
            files_done: 3,
            current_files: vec!["/home/a".into()],
            ..Default::default()
        };
        assert_eq!(
            parse(&signal(INTERFACE, "Progress", &p)).unwrap(),
            Some(HelperSignal::Progress(p))
        );
        let e = ItemError {
            error: "permission denied".into(),
            during: "scan".into(),
            item: "/root".into(),
        };
        assert_eq!(
            parse(&signal(INTERFACE, "Error", &e)).unwrap(),
            Some(HelperSignal::Error(e))
        );
        assert_eq!(
            parse(&signal(INTERFACE, "BackupStarted", &())).unwrap(),
            Some(HelperSignal::BackupStarted)
        );
        assert_eq!(
            parse(&signal(INTERFACE, "ErrorsFolded", &(7u64,))).unwrap(),
            Some(HelperSignal::ErrorsFolded(7))
        );
        let s = Summary {
            files_new: 5,
            dirs_unmodified: 2,
            data_added: 4096,
            total_duration: 1.25,
            snapshot_id: "0123abcd".into(),
            ..Default::default()
        };
        assert_eq!(
            parse(&signal(
                INTERFACE,
                "BackupComplete",
                &s.backup_complete_body()
            ))
            .unwrap(),
            Some(HelperSignal::BackupComplete(s))
        );
        let finished = parse(&signal(
            INTERFACE,
            "BackupFinished",
            &("completed-with-warnings", "2 files unreadable"),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            finished.outcome().unwrap().unwrap(),
            Outcome::CompletedWithWarnings
        );
        assert!(
            matches!(finished, HelperSignal::BackupFinished { reason, .. } if reason == "2 files unreadable")
        );
        // An outcome a newer helper might send is kept, and told apart.
        let newer = parse(&signal(INTERFACE, "BackupFinished", &("postponed", "")))
            .unwrap()
            .unwrap();
        assert!(newer.outcome().unwrap().is_err());
        assert!(HelperSignal::BackupStarted.outcome().is_none());
    }

    #[test]
    fn properties_changed_for_our_interface_only() {
        let changed = |iface: &str, name: &str, value: Value<'_>| {
            let body = (iface, HashMap::from([(name, value)]), Vec::<String>::new());
            signal(PROPERTIES_INTERFACE, "PropertiesChanged", &body)
        };
        let msg = changed(INTERFACE, "Phase", Value::from("backing-up"));
        assert_eq!(
            parse(&msg).unwrap(),
            Some(HelperSignal::PropertiesChanged(Properties {
                phase: Some(Some(Phase::BackingUp)),
                ..Default::default()
            }))
        );
        let idle = changed(INTERFACE, "Phase", Value::from("idle"));
        assert!(matches!(
            parse(&idle).unwrap(),
            Some(HelperSignal::PropertiesChanged(Properties {
                phase: Some(None),
                ..
            }))
        ));
        let other = changed("org.example.Other", "Phase", Value::from("backing-up"));
        assert_eq!(parse(&other).unwrap(), None);
        // The wrong type for a known property is an error, not a guess.
        let wrong = changed(INTERFACE, "ErrorCount", Value::from("many"));
        assert!(parse(&wrong).is_err());
        let bad_phase = changed(INTERFACE, "Phase", Value::from("dancing"));
        assert!(parse(&bad_phase).is_err());
    }

    #[test]
    fn properties_from_a_get_all() {
        let p = Progress {
            files_done: 9,
            ..Default::default()
        };
        let values = [
            (
                "Phase",
                OwnedValue::from(zbus::zvariant::Str::from("snapshotting")),
            ),
            ("Progress", OwnedValue::try_from(p.clone()).unwrap()),
            ("StartedAt", OwnedValue::from(1_700_000_000u64)),
            (
                "Profile",
                OwnedValue::from(zbus::zvariant::Str::from("laptop")),
            ),
            (
                "Places",
                OwnedValue::try_from(Value::from(vec!["/home".to_owned()])).unwrap(),
            ),
            ("ErrorCount", OwnedValue::from(2u64)),
            ("SomethingNewer", OwnedValue::from(true)),
        ];
        let props =
            Properties::from_values(values.into_iter().map(|(n, v)| (n.to_owned(), v))).unwrap();
        assert_eq!(
            props,
            Properties {
                phase: Some(Some(Phase::Snapshotting)),
                progress: Some(p),
                started_at: Some(1_700_000_000),
                profile: Some("laptop".into()),
                places: Some(vec!["/home".into()]),
                error_count: Some(2),
            }
        );
    }

    #[test]
    fn other_messages_are_not_helper_signals() {
        assert_eq!(
            parse(&signal("org.example.Other", "Progress", &())).unwrap(),
            None
        );
        assert_eq!(
            parse(&signal(INTERFACE, "SomethingNewer", &())).unwrap(),
            None
        );
        let call = Message::method_call(OBJECT_PATH, "Stop")
            .unwrap()
            .interface(INTERFACE)
            .unwrap()
            .build(&())
            .unwrap();
        assert_eq!(parse(&call).unwrap(), None);
        // A malformed body is an error, not a panic.
        assert!(parse(&signal(INTERFACE, "Progress", &("x",))).is_err());
    }

    #[test]
    fn lenient_readers_keep_the_well_formed_properties() {
        let mut skipped = Vec::new();
        let values = [
            ("Phase", Value::from("idle")),
            ("StartedAt", Value::from(7u64)),
            ("ErrorCount", Value::from("x")),
        ];
        let props = Properties::from_values_lenient(
            values.map(|(n, v)| (n.to_owned(), OwnedValue::try_from(v).unwrap())),
            |name, _| skipped.push(name.to_owned()),
        );
        assert_eq!(props.phase, Some(None));
        assert_eq!(props.started_at, Some(7));
        assert_eq!(props.error_count, None);
        assert_eq!(skipped, ["ErrorCount"]);

        let body = (
            INTERFACE,
            HashMap::from([
                ("Phase", Value::from("dancing")),
                ("Profile", Value::from("laptop")),
            ]),
            Vec::<String>::new(),
        );
        let msg = signal(PROPERTIES_INTERFACE, "PropertiesChanged", &body);
        let mut skipped = Vec::new();
        let parsed = parse_lenient(&msg, |name, _| skipped.push(name.to_owned())).unwrap();
        assert_eq!(
            parsed,
            Some(HelperSignal::PropertiesChanged(Properties {
                profile: Some("laptop".into()),
                ..Default::default()
            }))
        );
        assert_eq!(skipped, ["Phase"]);
        // Only properties are lenient: a malformed signal is still an error.
        assert!(parse_lenient(&signal(INTERFACE, "Progress", &("x",)), |_, _| {}).is_err());
    }

    #[test]
    fn signals_only_from_the_owner_on_the_object() {
        let owner = UniqueName::try_from(":1.42").unwrap();
        let from = |sender: &str, path: &str| {
            Message::signal(path, INTERFACE, "BackupStarted")
                .unwrap()
                .sender(sender)
                .unwrap()
                .build(&())
                .unwrap()
        };
        assert!(from_owner(&from(":1.42", OBJECT_PATH), Some(&owner)));
        assert!(!from_owner(&from(":1.7", OBJECT_PATH), Some(&owner)));
        assert!(!from_owner(&from(":1.42", "/elsewhere"), Some(&owner)));
        // Nobody owns the name: nobody is heard.
        assert!(!from_owner(&from(":1.42", OBJECT_PATH), None));
        let call = Message::method_call(OBJECT_PATH, "Stop")
            .unwrap()
            .sender(":1.42")
            .unwrap()
            .build(&())
            .unwrap();
        assert!(!from_owner(&call, Some(&owner)));
    }

    #[test]
    fn owner_changes_of_our_name_only() {
        let noc = |sender: &str, name: &str, new: &str| {
            Message::signal("/org/freedesktop/DBus", DBUS_NAME, "NameOwnerChanged")
                .unwrap()
                .sender(sender)
                .unwrap()
                .build(&(name, "", new))
                .unwrap()
        };
        assert_eq!(
            owner_change(&noc(DBUS_NAME, BUS_NAME, ":1.42")),
            Some(Some(OwnedUniqueName::try_from(":1.42").unwrap()))
        );
        assert_eq!(owner_change(&noc(DBUS_NAME, BUS_NAME, "")), Some(None));
        assert_eq!(owner_change(&noc(DBUS_NAME, "org.example.X", ":1.4")), None);
        // Only the bus itself says who owns a name.
        assert_eq!(owner_change(&noc(":1.7", BUS_NAME, ":1.7")), None);
    }

    #[test]
    fn match_rules_cover_the_name_and_the_object() {
        let [names, object] = match_rules();
        let names = names.to_string();
        assert!(names.contains("member='NameOwnerChanged'"), "{names}");
        assert!(names.contains(&format!("arg0='{BUS_NAME}'")), "{names}");
        let object = object.to_string();
        assert!(
            object.contains(&format!("path='{OBJECT_PATH}'")),
            "{object}"
        );
        assert!(object.contains("type='signal'"), "{object}");
    }
}
