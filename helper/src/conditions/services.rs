//! Asking UPower and NetworkManager on the system bus, and hearing when
//! what they say may have changed. Every call is bounded: a service that
//! hangs, fails or is absent counts as "condition clear", never as a
//! reason to hang the run.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::Stream;
use zbus::fdo::{DBusProxy, PropertiesProxy};
use zbus::names::InterfaceName;
use zbus::proxy::CacheProperties;
use zbus::zvariant::OwnedValue;

use super::decision::{Policy, Readings};

/// How long connecting to the bus, or one call, may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A property of a system service.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    /// For log lines.
    pub label: &'static str,
    pub name: &'static str,
    pub path: &'static str,
    pub interface: &'static str,
    pub property: &'static str,
}

pub const UPOWER: Source = Source {
    label: "UPower",
    name: "org.freedesktop.UPower",
    path: "/org/freedesktop/UPower",
    interface: "org.freedesktop.UPower",
    property: "OnBattery",
};

pub const NETWORK_MANAGER: Source = Source {
    label: "NetworkManager",
    name: "org.freedesktop.NetworkManager",
    path: "/org/freedesktop/NetworkManager",
    interface: "org.freedesktop.NetworkManager",
    property: "Metered",
};

/// The services `policy` needs asked.
pub fn sources(policy: Policy) -> Vec<Source> {
    let mut sources = Vec::new();
    if policy.watches_battery() {
        sources.push(UPOWER);
    }
    if policy.watches_metered() {
        sources.push(NETWORK_MANAGER);
    }
    sources
}

/// Why a property could not be read (logged; the condition counts as clear).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0} is not on the system bus")]
    Absent(&'static str),
    #[error("{label} did not answer within {timeout:?}", timeout = CALL_TIMEOUT)]
    Timeout { label: &'static str },
    #[error("{label} could not be asked for {property}: {source}")]
    Call {
        label: &'static str,
        property: &'static str,
        source: Box<zbus::Error>,
    },
    #[error("{label}'s {property} is not a {expected}")]
    Type {
        label: &'static str,
        property: &'static str,
        expected: &'static str,
    },
}

/// A connection to the system bus for the conditions alone: it asks for
/// no name, so the run's own name stays free while a postponed run waits.
pub struct SystemBus {
    connection: zbus::Connection,
}

impl SystemBus {
    /// Connects, or says at info level why not (no bus: nothing holds a run back).
    pub async fn connect() -> Option<Self> {
        let connect = async {
            zbus::connection::Builder::system()?
                .method_timeout(CALL_TIMEOUT)
                .build()
                .await
        };
        match tokio::time::timeout(CALL_TIMEOUT, connect).await {
            Ok(Ok(connection)) => Some(SystemBus { connection }),
            Ok(Err(e)) => {
                tracing::info!("run conditions: no system bus ({e}); treating them as met");
                None
            }
            Err(_) => {
                tracing::info!(
                    "run conditions: the system bus did not answer within {CALL_TIMEOUT:?}; \
                     treating them as met"
                );
                None
            }
        }
    }

    /// Reads what `policy` needs, both at once; what cannot be read is
    /// `None` (clear).
    pub async fn readings(&self, policy: Policy) -> Readings {
        let battery = async {
            if !policy.watches_battery() {
                return None;
            }
            logged(UPOWER, self.read(UPOWER).await.and_then(as_bool))
        };
        let metered = async {
            if !policy.watches_metered() {
                return None;
            }
            logged(
                NETWORK_MANAGER,
                self.read(NETWORK_MANAGER).await.and_then(as_u32),
            )
        };
        let (on_battery, metered) = tokio::join!(battery, metered);
        Readings {
            on_battery,
            metered,
        }
    }

    /// Whether `name` has an owner now; `None` if the bus does not say in time.
    pub async fn has_owner(&self, name: &'static str) -> Option<bool> {
        let ask = async {
            DBusProxy::new(&self.connection)
                .await?
                .name_has_owner(zbus::names::BusName::WellKnown(
                    zbus::names::WellKnownName::from_static_str_unchecked(name),
                ))
                .await
                .map_err(zbus::Error::from)
        };
        match tokio::time::timeout(CALL_TIMEOUT, ask).await {
            Ok(Ok(owned)) => Some(owned),
            Ok(Err(e)) => {
                tracing::debug!("cannot ask the bus who owns {name}: {e}");
                None
            }
            Err(_) => None,
        }
    }

    async fn read(&self, source: Source) -> Result<(Source, OwnedValue), ReadError> {
        let call = async {
            let proxy = properties(&self.connection, source).await?;
            let interface = InterfaceName::from_static_str_unchecked(source.interface);
            proxy
                .get(interface, source.property)
                .await
                .map_err(zbus::Error::from)
        };
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Err(_) => Err(ReadError::Timeout {
                label: source.label,
            }),
            Ok(Ok(value)) => Ok((source, value)),
            Ok(Err(e)) if is_absent(&e) => Err(ReadError::Absent(source.label)),
            Ok(Err(e)) => Err(ReadError::Call {
                label: source.label,
                property: source.property,
                source: Box::new(e),
            }),
        }
    }

    /// Subscribes to what may change the readings of `sources`: their
    /// PropertiesChanged, and their coming and going on the bus.
    /// Subscribe before reading, so that no change falls in between.
    /// What cannot be subscribed is left to the slow re-check.
    pub async fn changes(&self, sources: &[Source]) -> Changes {
        let mut streams: Vec<Pin<Box<dyn Stream<Item = ()> + Send>>> = Vec::new();
        for source in sources {
            match tokio::time::timeout(CALL_TIMEOUT, self.subscribe(*source, &mut streams)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::info!(
                    "run conditions: cannot follow {}'s changes ({e}); re-checking now and then",
                    source.label
                ),
                Err(_) => tracing::info!(
                    "run conditions: subscribing to {}'s changes took over {CALL_TIMEOUT:?}; \
                     re-checking now and then",
                    source.label
                ),
            }
        }
        Changes { streams }
    }

    async fn subscribe(
        &self,
        source: Source,
        streams: &mut Vec<Pin<Box<dyn Stream<Item = ()> + Send>>>,
    ) -> zbus::Result<()> {
        let properties = properties(&self.connection, source).await?;
        let changed = properties
            .receive_properties_changed_with_args(&[(0, source.interface)])
            .await?;
        streams.push(Box::pin(futures_lite::StreamExt::map(changed, |_| ())));
        let dbus = DBusProxy::new(&self.connection).await?;
        let owner = dbus
            .receive_name_owner_changed_with_args(&[(0, source.name)])
            .await?;
        streams.push(Box::pin(futures_lite::StreamExt::map(owner, |_| ())));
        Ok(())
    }
}

async fn properties(
    connection: &zbus::Connection,
    source: Source,
) -> zbus::Result<PropertiesProxy<'static>> {
    PropertiesProxy::builder(connection)
        .destination(source.name)?
        .path(source.path)?
        .cache_properties(CacheProperties::No)
        .build()
        .await
}

/// The bus says nobody owns the name (and nothing activates it).
fn is_absent(e: &zbus::Error) -> bool {
    let name = match e {
        zbus::Error::MethodError(name, _, _) => name.as_str(),
        zbus::Error::FDO(fdo) => match **fdo {
            zbus::fdo::Error::ServiceUnknown(_) => return true,
            zbus::fdo::Error::NameHasNoOwner(_) => return true,
            _ => return false,
        },
        _ => return false,
    };
    matches!(
        name,
        "org.freedesktop.DBus.Error.ServiceUnknown" | "org.freedesktop.DBus.Error.NameHasNoOwner"
    )
}

fn as_bool((source, value): (Source, OwnedValue)) -> Result<bool, ReadError> {
    bool::try_from(value).map_err(|_| ReadError::Type {
        label: source.label,
        property: source.property,
        expected: "boolean",
    })
}

fn as_u32((source, value): (Source, OwnedValue)) -> Result<u32, ReadError> {
    u32::try_from(value).map_err(|_| ReadError::Type {
        label: source.label,
        property: source.property,
        expected: "uint32",
    })
}

/// The value, or `None` after saying why: debug for an absent service
/// (a desktop without UPower is normal), info for one that failed.
fn logged<T: std::fmt::Debug>(source: Source, read: Result<T, ReadError>) -> Option<T> {
    match read {
        Ok(value) => {
            tracing::debug!(
                "run conditions: {}.{} = {value:?}",
                source.label,
                source.property
            );
            Some(value)
        }
        Err(e @ ReadError::Absent(_)) => {
            tracing::debug!("run conditions: {e}; that condition counts as met");
            None
        }
        Err(e) => {
            tracing::info!("run conditions: {e}; that condition counts as met");
            None
        }
    }
}

/// Something the conditions depend on may have changed.
pub struct Changes {
    streams: Vec<Pin<Box<dyn Stream<Item = ()> + Send>>>,
}

impl Changes {
    /// Resolves on the next change; never, once every stream has ended
    /// (the bus went away: the re-check goes on). Cancel-safe.
    pub fn next(&mut self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|cx: &mut Context<'_>| {
            let mut i = 0;
            while i < self.streams.len() {
                match self.streams[i].as_mut().poll_next(cx) {
                    Poll::Ready(Some(())) => return Poll::Ready(()),
                    Poll::Ready(None) => {
                        drop(self.streams.swap_remove(i));
                    }
                    Poll::Pending => i += 1,
                }
            }
            Poll::Pending
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_services_that_matter_are_asked() {
        let policy = |run_on_battery, run_on_metered, repository_is_remote| Policy {
            run_on_battery,
            run_on_metered,
            repository_is_remote,
        };
        let names = |p| sources(p).iter().map(|s| s.label).collect::<Vec<_>>();
        assert_eq!(
            names(policy(false, false, true)),
            ["UPower", "NetworkManager"]
        );
        assert_eq!(names(policy(false, false, false)), ["UPower"]);
        assert_eq!(names(policy(true, false, true)), ["NetworkManager"]);
        assert!(names(policy(true, true, true)).is_empty());
    }

    #[test]
    fn a_name_without_an_owner_is_an_absent_service() {
        let fdo = |e| zbus::Error::FDO(Box::new(e));
        assert!(is_absent(&fdo(zbus::fdo::Error::ServiceUnknown(
            "x".into()
        ))));
        assert!(is_absent(&fdo(zbus::fdo::Error::NameHasNoOwner(
            "x".into()
        ))));
        assert!(!is_absent(&fdo(zbus::fdo::Error::AccessDenied("x".into()))));
        assert!(!is_absent(&fdo(zbus::fdo::Error::UnknownProperty(
            "x".into()
        ))));
        assert!(!is_absent(&zbus::Error::InvalidReply));
    }
}
