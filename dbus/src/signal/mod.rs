//! Reading a run back from the bus: every signal of the helper's object as
//! one enum, its properties as one struct, and the match rules that bring
//! both to a client in a single ordered stream.
//!
//! A client that follows a run from one `zbus::MessageStream` sees the
//! helper's signals and `NameOwnerChanged` in the order they were sent, and
//! can take signals only from the owner of [`BUS_NAME`](crate::BUS_NAME)
//! as of the last `NameOwnerChanged` (see [`crate::proxy`] for the rules).
//! So it [`subscribe`]s, and then, for each message: [`owner_change`]
//! tells when the name changes hands, [`from_owner`] whether the current
//! owner sent it, and [`parse`] what it says.
//!
//! A known property of the wrong type fails [`parse`],
//! [`Properties::from_values`] and [`Properties::read`]. Their `_lenient`
//! twins leave it out, hand it to a callback, and keep the rest: for a
//! client that would rather show most of the state than none.

mod properties;
mod stream;

use std::collections::HashMap;

use zbus::fdo::PropertiesChanged;
use zbus::message::{Message, Type as MessageType};
use zbus::zvariant::OwnedValue;

use crate::payload::OriginalBackupCompleteBody;
use crate::proxy::{BackupCompleteArgs, BackupFinished, ErrorsFolded};
use crate::{BackupCompleteBody, ItemError, Progress, Summary, INTERFACE};
pub use properties::Properties;
pub use stream::{from_owner, match_rules, owner_change, subscribe};

const PROPERTIES_INTERFACE: &str = "org.freedesktop.DBus.Properties";

/// One signal of the helper's object.
#[derive(Debug, Clone, PartialEq)]
pub enum HelperSignal {
    BackupStarted,
    Progress(Progress),
    Error(ItemError),
    ErrorsFolded(u64),
    /// restic's summary. The original helper sends thirteen arguments,
    /// without `data_added`: then `data_added_known` is false and
    /// `summary.data_added` is 0, which means nothing.
    BackupComplete {
        summary: Summary,
        data_added_known: bool,
    },
    BackupFinished {
        /// An [`Outcome`](crate::Outcome) name, as sent: a newer helper may
        /// send one this version does not know.
        outcome: String,
        reason: String,
    },
    /// `PropertiesChanged` for `com.nyantec.igotchuu1`.
    PropertiesChanged(Properties),
    /// An operation began (addition): an [`Operation`](crate::Operation)
    /// name, as sent.
    OperationStarted {
        operation: String,
    },
    /// An operation ended (addition); names as sent, as for
    /// `BackupFinished`.
    OperationFinished {
        operation: String,
        outcome: String,
        reason: String,
    },
}

impl HelperSignal {
    /// A `BackupFinished` outcome this version does not know (a newer
    /// helper's), which a follower takes as failed: for a driver to log.
    pub fn unknown_outcome(&self) -> Option<&str> {
        match self {
            HelperSignal::BackupFinished { outcome, .. }
            | HelperSignal::OperationFinished { outcome, .. }
                if outcome.parse::<crate::Outcome>().is_err() =>
            {
                Some(outcome)
            }
            _ => None,
        }
    }
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
        "BackupComplete" => backup_complete(msg)?,
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
        "OperationStarted" => {
            let (operation,) = msg.body().deserialize::<(String,)>()?;
            HelperSignal::OperationStarted { operation }
        }
        "OperationFinished" => {
            let (operation, outcome, reason) =
                msg.body().deserialize::<(String, String, String)>()?;
            HelperSignal::OperationFinished {
                operation,
                outcome,
                reason,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(signal))
}

/// `BackupComplete`'s arguments as the interface declares them.
const BACKUP_COMPLETE: &str = "ttttttxxtttdsb";
/// As the original helper sends them: without `data_added`.
const ORIGINAL_BACKUP_COMPLETE: &str = "ttttttxxttdsb";

/// A `BackupComplete` in either shape.
fn backup_complete(msg: &Message) -> zbus::Result<HelperSignal> {
    let body = msg.body();
    let signature = body.signature().to_string_no_parens();
    let (summary, data_added_known) = match signature.as_str() {
        BACKUP_COMPLETE => (
            Summary::from_backup_complete(body.deserialize::<BackupCompleteBody>()?),
            true,
        ),
        ORIGINAL_BACKUP_COMPLETE => (
            Summary::from_original_backup_complete(
                body.deserialize::<OriginalBackupCompleteBody>()?,
            ),
            false,
        ),
        other => {
            return Err(zbus::Error::Failure(format!(
                "BackupComplete with arguments ({other}), neither the interface's \
                 ({BACKUP_COMPLETE}) nor the original helper's ({ORIGINAL_BACKUP_COMPLETE})"
            )))
        }
    };
    Ok(HelperSignal::BackupComplete {
        summary,
        data_added_known,
    })
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

#[cfg(test)]
mod tests {
    use zbus::zvariant::Value;

    use super::*;
    use crate::{Outcome, Phase, OBJECT_PATH};

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
            Some(HelperSignal::BackupComplete {
                summary: s.clone(),
                data_added_known: true,
            })
        );
        let finished = parse(&signal(
            INTERFACE,
            "BackupFinished",
            &("completed-with-warnings", "2 files unreadable"),
        ))
        .unwrap()
        .unwrap();
        assert!(
            matches!(&finished, HelperSignal::BackupFinished { outcome, reason }
                if outcome.parse::<Outcome>().ok() == Some(Outcome::CompletedWithWarnings)
                    && reason == "2 files unreadable")
        );
        // An outcome a newer helper might send is kept, and told apart.
        let newer = parse(&signal(INTERFACE, "BackupFinished", &("exploded", "")))
            .unwrap()
            .unwrap();
        assert!(
            matches!(&newer, HelperSignal::BackupFinished { outcome, .. } if outcome.parse::<Outcome>().is_err())
        );
        assert_eq!(newer.unknown_outcome(), Some("exploded"));
        assert_eq!(
            parse(&signal(INTERFACE, "OperationStarted", &("check",))).unwrap(),
            Some(HelperSignal::OperationStarted {
                operation: "check".into()
            })
        );
        let op_finished = parse(&signal(
            INTERFACE,
            "OperationFinished",
            &("check", "failed", "The repository is damaged."),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            op_finished,
            HelperSignal::OperationFinished {
                operation: "check".into(),
                outcome: "failed".into(),
                reason: "The repository is damaged.".into(),
            }
        );
        assert!(parse(&signal(INTERFACE, "OperationStarted", &(1u32,))).is_err());
        assert_eq!(finished.unknown_outcome(), None);
    }

    #[test]
    fn reads_the_original_helpers_thirteen_argument_backup_complete() {
        // As in fixtures/original-helper-signals.txt: no data_added.
        let body: OriginalBackupCompleteBody = (
            1500,
            0,
            0,
            5,
            0,
            0,
            1500,
            6,
            1500,
            225_150_000,
            1.56763,
            "fede886f".into(),
            false,
        );
        let msg = signal(INTERFACE, "BackupComplete", &body);
        assert_eq!(
            msg.body().signature().to_string_no_parens(),
            ORIGINAL_BACKUP_COMPLETE
        );
        let Some(HelperSignal::BackupComplete {
            summary,
            data_added_known,
        }) = parse(&msg).unwrap()
        else {
            panic!("not a BackupComplete")
        };
        assert!(!data_added_known);
        assert_eq!(
            summary,
            Summary {
                files_new: 1500,
                dirs_new: 5,
                data_blobs: 1500,
                tree_blobs: 6,
                data_added: 0,
                total_files_processed: 1500,
                total_bytes_processed: 225_150_000,
                total_duration: 1.56763,
                snapshot_id: "fede886f".into(),
                ..Default::default()
            }
        );
        // The interface's fourteen: data_added is known.
        let full = Summary {
            data_added: 7,
            ..summary.clone()
        };
        let msg = signal(INTERFACE, "BackupComplete", &full.backup_complete_body());
        assert_eq!(
            msg.body().signature().to_string_no_parens(),
            BACKUP_COMPLETE
        );
        assert_eq!(
            parse(&msg).unwrap(),
            Some(HelperSignal::BackupComplete {
                summary: full,
                data_added_known: true,
            })
        );
        // Any other shape is malformed, and says which shapes it knows.
        let e = parse(&signal(INTERFACE, "BackupComplete", &(1u64, "x"))).unwrap_err();
        assert!(e.to_string().contains(ORIGINAL_BACKUP_COMPLETE), "{e}");
        assert!(parse(&signal(INTERFACE, "BackupComplete", &())).is_err());
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
    fn lenient_parse_keeps_the_well_formed_properties() {
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
}
