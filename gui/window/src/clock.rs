//! Points in time for people: "Today at 14:05", "Tomorrow at 00:30",
//! "Mon 5 Feb at 12:00", or "Today at 2:05 PM" where the desktop (or else
//! the locale) uses a 12-hour clock. Pure, given a time zone and a clock,
//! so that tests can pin them.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use gtk::prelude::*;
use gtk::{gio, glib};
use igotchuu_desktop::i18n::{fill, gettext};

/// GNOME's setting for the clock: `clock-format`, "24h" or "12h".
const INTERFACE_SCHEMA: &str = "org.gnome.desktop.interface";
const CLOCK_FORMAT_KEY: &str = "clock-format";

const SECONDS_PER_DAY: i64 = 24 * 60 * 60;
/// Beyond this many days away, the date says which day, not "in 3 days".
const NAMED_DAYS: i64 = 1;

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How times of day are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// "14:05"
    H24,
    /// "2:05 PM"
    H12,
}

impl Clock {
    /// The desktop's choice (GNOME's `clock-format`), read each time so
    /// that a change shows at the next refresh; where GNOME's schema is not
    /// installed, the locale's.
    pub fn desktop() -> Clock {
        thread_local! {
            static SETTINGS: RefCell<Option<Option<gio::Settings>>> = const { RefCell::new(None) };
        }
        let from_settings = SETTINGS.with(|cell| {
            let mut cell = cell.borrow_mut();
            let settings = cell.get_or_insert_with(interface_settings);
            settings
                .as_ref()
                .map(|s| s.string(CLOCK_FORMAT_KEY) == "12h")
        });
        match from_settings {
            Some(true) => Clock::H12,
            Some(false) => Clock::H24,
            None => Clock::of_locale(),
        }
    }

    /// The locale's: whether its time of day says "13" at 1 PM.
    fn of_locale() -> Clock {
        let one_pm = glib::DateTime::from_utc(2024, 2, 5, 13, 0, 0.0)
            .ok()
            .and_then(|t| t.format("%X").ok());
        match one_pm {
            Some(s) if !s.contains("13") => Clock::H12,
            _ => Clock::H24,
        }
    }

    fn pattern(self) -> &'static str {
        match self {
            Clock::H24 => "%H:%M",
            // GNOME's own: no leading zero, then AM or PM in the locale's words.
            Clock::H12 => "%l:%M %p",
        }
    }
}

/// GNOME's interface settings, if their schema is installed: asking
/// `gio::Settings` for a schema that is not there aborts the program.
fn interface_settings() -> Option<gio::Settings> {
    let source = gio::SettingsSchemaSource::default()?;
    let schema = source.lookup(INTERFACE_SCHEMA, true)?;
    schema
        .has_key(CLOCK_FORMAT_KEY)
        .then(|| gio::Settings::new(INTERFACE_SCHEMA))
}

/// `t` (seconds since the Unix epoch) as a day and a time of day, seen from
/// `now`, in the local time zone, on the desktop's clock.
pub fn day_and_time(t: u64, now: u64) -> String {
    day_and_time_in(t, now, &glib::TimeZone::local(), Clock::desktop())
}

/// [`day_and_time`] inside a sentence: "today at 14:05", "yesterday at
/// 23:00", else as [`day_and_time`] writes it, and whether the day was
/// named so (which says how long ago already).
pub fn day_and_time_in_sentence(t: u64, now: u64) -> (String, bool) {
    in_sentence_in(t, now, &glib::TimeZone::local(), Clock::desktop())
}

/// [`day_and_time`] in a given time zone, on a given clock.
pub fn day_and_time_in(t: u64, now: u64, tz: &glib::TimeZone, clock: Clock) -> String {
    let Some((days, at, time, same_year)) = parts(t, now, tz, clock) else {
        return String::new();
    };
    let template = match days {
        // xgettext: {time} is e.g. "14:05" or "2:05 PM".
        0 => gettext("Today at {time}"),
        1 => gettext("Tomorrow at {time}"),
        -1 => gettext("Yesterday at {time}"),
        _ => return dated(&at, &time, same_year),
    };
    fill(&template, &[("time", &time)])
}

fn in_sentence_in(t: u64, now: u64, tz: &glib::TimeZone, clock: Clock) -> (String, bool) {
    let Some((days, _, time, _)) = parts(t, now, tz, clock) else {
        return (String::new(), false);
    };
    let template = match days {
        // xgettext: inside a sentence, as in "Passed today at 14:05".
        0 => gettext("today at {time}"),
        -1 => gettext("yesterday at {time}"),
        _ => return (day_and_time_in(t, now, tz, clock), false),
    };
    (fill(&template, &[("time", &time)]), true)
}

/// "Thu 8 Feb at 10:00", "1 Jan 2023 at 10:00".
fn dated(at: &glib::DateTime, time: &str, same_year: bool) -> String {
    let date = if same_year {
        // xgettext: a date in this year, as a strftime pattern: "Mon 5 Feb".
        fmt(at, &gettext("%a %-d %b"))
    } else {
        // xgettext: a date in another year, as a strftime pattern: "5 Feb 2023".
        fmt(at, &gettext("%-d %b %Y"))
    };
    fill(
        // xgettext: {date} is e.g. "Mon 5 Feb", {time} "14:05" or "2:05 PM".
        &gettext("{date} at {time}"),
        &[("date", &date), ("time", time)],
    )
}

/// How many days `t` is from `now`, `t` in the time zone, its time of day,
/// and whether it is in the same year beyond [`NAMED_DAYS`].
fn parts(
    t: u64,
    now: u64,
    tz: &glib::TimeZone,
    clock: Clock,
) -> Option<(i64, glib::DateTime, String, bool)> {
    let (at, today) = (local(t, tz)?, local(now, tz)?);
    let time = fmt(&at, clock.pattern()).trim().to_owned();
    let days = calendar_days_between(&today, &at);
    let same_year = days.abs() > NAMED_DAYS && at.year() == today.year();
    Some((days, at, time, same_year))
}

fn fmt(t: &glib::DateTime, pattern: &str) -> String {
    t.format(pattern).map(|s| s.to_string()).unwrap_or_default()
}

fn local(t: u64, tz: &glib::TimeZone) -> Option<glib::DateTime> {
    let t = i64::try_from(t).ok()?;
    glib::DateTime::from_unix_utc(t).ok()?.to_timezone(tz).ok()
}

/// How many midnights lie between `from` and `to` (negative if `to` is
/// earlier): 1 for "tomorrow", whatever the hours.
fn calendar_days_between(from: &glib::DateTime, to: &glib::DateTime) -> i64 {
    let midnight = |d: &glib::DateTime| {
        glib::DateTime::new(
            &d.timezone(),
            d.year(),
            d.month(),
            d.day_of_month(),
            0,
            0,
            0.0,
        )
        .map(|m| m.to_unix())
        .unwrap_or_else(|_| d.to_unix())
    };
    // Rounded: a day with a daylight-saving change is 23 or 25 hours long.
    let seconds = midnight(to) - midnight(from);
    (seconds as f64 / SECONDS_PER_DAY as f64).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-02-05 (a Monday) 10:00:00 UTC.
    const MONDAY_10: u64 = 1_707_127_200;
    const HOUR: u64 = 3600;
    const DAY: u64 = 24 * HOUR;

    fn utc(t: u64, now: u64) -> String {
        day_and_time_in(t, now, &glib::TimeZone::utc(), Clock::H24)
    }

    #[test]
    fn names_nearby_days() {
        assert_eq!(utc(MONDAY_10 + 2 * HOUR, MONDAY_10), "Today at 12:00");
        assert_eq!(
            utc(MONDAY_10 + 14 * HOUR + 30 * 60, MONDAY_10),
            "Tomorrow at 00:30"
        );
        assert_eq!(utc(MONDAY_10 - 11 * HOUR, MONDAY_10), "Yesterday at 23:00");
    }

    #[test]
    fn dates_further_away() {
        assert_eq!(utc(MONDAY_10 + 3 * DAY, MONDAY_10), "Thu 8 Feb at 10:00");
        assert_eq!(utc(MONDAY_10 - 400 * DAY, MONDAY_10), "1 Jan 2023 at 10:00");
    }

    #[test]
    fn uses_the_time_zone() {
        let berlin = glib::TimeZone::from_offset(3600);
        // 23:30 UTC on Monday is 00:30 on Tuesday in UTC+1.
        let t = MONDAY_10 + 13 * HOUR + 30 * 60;
        assert_eq!(
            day_and_time_in(t, MONDAY_10, &berlin, Clock::H24),
            "Tomorrow at 00:30"
        );
    }

    #[test]
    fn follows_a_twelve_hour_clock() {
        let tz = glib::TimeZone::utc();
        let t = MONDAY_10 + 4 * HOUR + 5 * 60;
        assert_eq!(
            day_and_time_in(t, MONDAY_10, &tz, Clock::H12),
            "Today at 2:05 PM"
        );
        assert_eq!(
            day_and_time_in(MONDAY_10 + 14 * HOUR, MONDAY_10, &tz, Clock::H12),
            "Tomorrow at 12:00 AM"
        );
        assert_eq!(
            in_sentence_in(MONDAY_10 - 11 * HOUR, MONDAY_10, &tz, Clock::H24),
            ("yesterday at 23:00".to_owned(), true)
        );
        assert_eq!(
            in_sentence_in(MONDAY_10 + 3 * DAY, MONDAY_10, &tz, Clock::H24),
            ("Thu 8 Feb at 10:00".to_owned(), false)
        );
    }
}
