//! The helper's properties: all of them at once (`GetAll`), or the ones a
//! `PropertiesChanged` names.

use std::collections::HashMap;

use zbus::fdo::PropertiesProxy;
use zbus::names::{InterfaceName, UniqueName};
use zbus::zvariant::OwnedValue;

use crate::{Operation, Phase, Progress, UnknownName, INTERFACE, OBJECT_PATH, PUBLIC_OBJECT_PATH};

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
    /// Addition: `Some(None)`: no operation under way.
    pub operation: Option<Option<Operation>>,
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
            "Operation" => {
                let s = String::try_from(value)?;
                self.operation = Some(Operation::from_property(&s).map_err(unknown)?);
            }
            _ => {}
        }
        Ok(())
    }
}

/// The properties of the detailed object, or, for a caller the bus policy
/// keeps from it (neither root nor an administrator), of the public one.
async fn get_all(
    conn: &zbus::Connection,
    owner: &UniqueName<'_>,
) -> zbus::Result<HashMap<String, OwnedValue>> {
    match get_all_at(conn, owner, OBJECT_PATH).await {
        Err(zbus::fdo::Error::AccessDenied(_)) => {
            Ok(get_all_at(conn, owner, PUBLIC_OBJECT_PATH).await?)
        }
        other => Ok(other?),
    }
}

async fn get_all_at(
    conn: &zbus::Connection,
    owner: &UniqueName<'_>,
    path: &'static str,
) -> zbus::fdo::Result<HashMap<String, OwnedValue>> {
    let proxy = PropertiesProxy::builder(conn)
        .destination(owner.to_owned())?
        .path(path)?
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await?;
    proxy
        .get_all(InterfaceName::from_static_str_unchecked(INTERFACE))
        .await
}

fn unknown(e: UnknownName) -> zbus::Error {
    zbus::Error::Failure(e.to_string())
}

#[cfg(test)]
mod tests {
    use zbus::zvariant::Value;

    use super::*;

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
                operation: None,
            }
        );
    }

    #[test]
    fn lenient_values_keep_the_well_formed_ones() {
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
    }
}
