//! The one ordered stream a follower reads, and which of its messages come
//! from the helper.

use zbus::fdo::DBusProxy;
use zbus::message::{Message, Type as MessageType};
use zbus::names::{OwnedUniqueName, UniqueName};
use zbus::{MatchRule, MessageStream};

use crate::{is_helper_object, BUS_NAME, OBJECT_PATH};

const DBUS_NAME: &str = "org.freedesktop.DBus";

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
/// name's owner as of the last [`owner_change`]. The match rules already
/// ask the bus for the name's owner's signals only; this keeps out what a
/// stale owner sent before the name changed hands, and anything a
/// connection delivers unasked.
pub fn from_owner(msg: &Message, owner: Option<&UniqueName<'_>>) -> bool {
    let header = msg.header();
    let from_owner = matches!((header.sender(), owner), (Some(s), Some(o)) if s == o);
    header.message_type() == MessageType::Signal
        && from_owner
        && header.path().is_some_and(|p| is_helper_object(p.as_str()))
}

/// The match rules a follower adds (with `DBusProxy::add_match_rule`) to
/// hear, in one stream: `NameOwnerChanged` for [`BUS_NAME`], and every
/// signal on the helper's object (its own and `PropertiesChanged`).
///
/// Each names its sender, so that nobody else's signals wake a client: the
/// bus itself for `NameOwnerChanged`, and [`BUS_NAME`] for the object's,
/// which the bus daemon matches against the name's primary owner when it
/// routes each signal. Still check each signal with [`from_owner`].
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
        .sender(BUS_NAME)
        // Both objects; the bus policy delivers one's signals to root and
        // administrators, the other's to everyone else.
        .and_then(|b| b.path_namespace(OBJECT_PATH))
        .expect("valid name and path")
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
    use super::*;
    use crate::INTERFACE;

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
        assert!(from_owner(
            &from(":1.42", crate::PUBLIC_OBJECT_PATH),
            Some(&owner)
        ));
        assert!(!from_owner(
            &from(":1.42", "/com/nyantec/other"),
            Some(&owner)
        ));
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
        assert!(names.contains(&format!("sender='{DBUS_NAME}'")), "{names}");
        let object = object.to_string();
        // The detailed object and the public one below it.
        assert!(
            object.contains(&format!("path_namespace='{OBJECT_PATH}'")),
            "{object}"
        );
        assert!(object.contains("type='signal'"), "{object}");
        // The bus delivers the name's owner's signals only.
        assert!(object.contains(&format!("sender='{BUS_NAME}'")), "{object}");
    }
}
