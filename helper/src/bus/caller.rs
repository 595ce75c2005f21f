//! Who sent a method call, for the caps and the audit log: the unique bus
//! name from the message, and the uid and pid the bus daemon took from the
//! kernel when that connection was made (`GetConnectionCredentials`).
//! Nothing from the message body; polkit still decides by bus name.

use std::fmt;

use zbus::message::Header;
use zbus::names::BusName;
use zbus::Connection;

use super::limits::Key;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The unique bus name, or "?" for a call without a sender.
    pub name: String,
    pub uid: Option<u32>,
    pub pid: Option<u32>,
}

impl Caller {
    /// Asks the bus daemon for the sender's credentials. A caller that has
    /// gone already is known by its name alone.
    pub async fn identify(conn: &Connection, header: &Header<'_>) -> Caller {
        let Some(sender) = header.sender() else {
            return Caller {
                name: "?".into(),
                uid: None,
                pid: None,
            };
        };
        let name = sender.to_string();
        let credentials = match zbus::fdo::DBusProxy::new(conn).await {
            Ok(dbus) => dbus
                .get_connection_credentials(BusName::Unique(sender.clone()))
                .await
                .ok(),
            Err(_) => None,
        };
        Caller {
            name,
            uid: credentials.as_ref().and_then(|c| c.unix_user_id()),
            pid: credentials.as_ref().and_then(|c| c.process_id()),
        }
    }

    /// What the caps count it by; `None` if the bus could not say its uid.
    pub fn key(&self) -> Option<Key> {
        Some(Key {
            name: self.name.clone(),
            uid: self.uid?,
        })
    }
}

/// `uid=65534 pid=4242 sender=:1.17`; `?` for what is unknown.
impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn or_unknown(v: Option<u32>) -> String {
            v.map_or_else(|| "?".to_owned(), |v| v.to_string())
        }
        write!(
            f,
            "uid={} pid={} sender={}",
            or_unknown(self.uid),
            or_unknown(self.pid),
            self.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_what_the_bus_said_and_what_it_did_not() {
        let c = Caller {
            name: ":1.17".into(),
            uid: Some(65534),
            pid: Some(4242),
        };
        assert_eq!(c.to_string(), "uid=65534 pid=4242 sender=:1.17");
        assert_eq!(
            c.key(),
            Some(Key {
                name: ":1.17".into(),
                uid: 65534
            })
        );
        let gone = Caller {
            uid: None,
            pid: None,
            ..c
        };
        assert_eq!(gone.to_string(), "uid=? pid=? sender=:1.17");
        assert_eq!(gone.key(), None);
    }
}
