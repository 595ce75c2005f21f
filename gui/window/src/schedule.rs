//! When the next runs are due: systemd's `igotchuu.timer` (backups),
//! `igotchuu-prune.timer` (removing unused data) and `igotchuu-check.timer`
//! (repository checks), read over the system bus. Where systemd is not
//! running (containers, other inits), there is no schedule to show, and
//! that is not an error.

use igotchuu_desktop::i18n::gettext;
use zbus::zvariant::OwnedObjectPath;

use crate::clock;

pub const TIMER_UNIT: &str = "igotchuu.timer";
pub const PRUNE_TIMER_UNIT: &str = "igotchuu-prune.timer";
pub const CHECK_TIMER_UNIT: &str = "igotchuu-check.timer";

/// Each timer, in the order of their rows in the window (`idle_page.ui`).
pub const TIMERS: [&str; 3] = [TIMER_UNIT, PRUNE_TIMER_UNIT, CHECK_TIMER_UNIT];
const SYSTEMD: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const TIMER: &str = "org.freedesktop.systemd1.Timer";
const UNIT: &str = "org.freedesktop.systemd1.Unit";
const MICROS: u64 = 1_000_000;

/// What systemd says about the next run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Schedule {
    /// Not asked yet.
    #[default]
    Unknown,
    /// The timer elapses next at this time, in seconds since the Unix epoch.
    Next(u64),
    /// The timer exists but is not active: backups run only when asked.
    Inactive,
    /// No systemd, or no such timer.
    None,
}

impl Schedule {
    /// A "Next …" row's text.
    pub fn describe(&self, now: u64) -> String {
        match self {
            Schedule::Unknown => "…".to_owned(),
            Schedule::Next(t) => clock::day_and_time(*t, now),
            Schedule::Inactive => gettext("Not scheduled: the timer is off"),
            Schedule::None => gettext("No schedule"),
        }
    }
}

/// The next run of each of [`TIMERS`], in that order.
pub async fn next_runs() -> [Schedule; 3] {
    let conn = match zbus::Connection::system().await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!("no schedule from systemd: {e}");
            return [Schedule::None, Schedule::None, Schedule::None];
        }
    };
    let mut out = [Schedule::None, Schedule::None, Schedule::None];
    for (slot, unit) in out.iter_mut().zip(TIMERS) {
        *slot = next_run_of(&conn, unit).await;
    }
    out
}

/// Asks systemd on the system bus about `unit`. Never fails: whatever goes
/// wrong reads as [`Schedule::None`], logged at debug level, because a
/// desktop without systemd, or without that timer, is normal.
pub async fn next_run_of(conn: &zbus::Connection, unit: &str) -> Schedule {
    match query(conn, unit).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!("no schedule for {unit} from systemd: {e}");
            Schedule::None
        }
    }
}

async fn query(conn: &zbus::Connection, unit_name: &str) -> zbus::Result<Schedule> {
    let manager = proxy(conn, MANAGER_PATH, MANAGER).await?;
    // GetUnit knows loaded units only; an enabled timer is always loaded.
    let path: OwnedObjectPath = match manager.call("GetUnit", &(unit_name,)).await {
        Ok(p) => p,
        Err(_) => manager.call("LoadUnit", &(unit_name,)).await?,
    };
    let unit = proxy(conn, path.as_str(), UNIT).await?;
    let load_state: String = unit.get_property("LoadState").await?;
    if load_state != "loaded" {
        return Ok(Schedule::None);
    }
    let active: String = unit.get_property("ActiveState").await?;
    let timer = proxy(conn, path.as_str(), TIMER).await?;
    let next: u64 = timer.get_property("NextElapseUSecRealtime").await?;
    Ok(from_systemd(&active, next))
}

/// A proxy that reads properties when asked, and only then.
async fn proxy<'a>(
    conn: &zbus::Connection,
    path: &'a str,
    interface: &'a str,
) -> zbus::Result<zbus::Proxy<'a>> {
    zbus::proxy::Builder::new(conn)
        .destination(SYSTEMD)?
        .path(path)?
        .interface(interface)?
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
}

/// The schedule from the unit's `ActiveState` and the timer's
/// `NextElapseUSecRealtime` (microseconds; 0 for none).
fn from_systemd(active_state: &str, next_elapse_usec: u64) -> Schedule {
    if active_state != "active" || next_elapse_usec == 0 || next_elapse_usec == u64::MAX {
        return Schedule::Inactive;
    }
    Schedule::Next(next_elapse_usec / MICROS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_systemd_values() {
        assert_eq!(
            from_systemd("active", 1_707_127_200_123_456),
            Schedule::Next(1_707_127_200)
        );
        assert_eq!(
            from_systemd("inactive", 1_707_127_200_000_000),
            Schedule::Inactive
        );
        assert_eq!(from_systemd("active", 0), Schedule::Inactive);
        assert_eq!(from_systemd("active", u64::MAX), Schedule::Inactive);
    }

    #[test]
    fn says_plainly_when_there_is_none() {
        assert_eq!(Schedule::None.describe(0), "No schedule");
        assert!(Schedule::Inactive.describe(0).starts_with("Not scheduled"));
    }
}
