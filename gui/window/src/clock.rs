//! Points in time for people: "Today at 14:05", "Tomorrow at 00:30",
//! "Mon 5 Feb at 12:00". Pure, given a time zone, so that tests can pin it.

use std::time::{SystemTime, UNIX_EPOCH};

use gtk::glib;

const SECONDS_PER_DAY: i64 = 24 * 60 * 60;
/// Beyond this many days away, the date says which day, not "in 3 days".
const NAMED_DAYS: i64 = 1;

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `t` (seconds since the Unix epoch) as a day and a time of day, seen from
/// `now`, in the local time zone.
pub fn day_and_time(t: u64, now: u64) -> String {
    day_and_time_in(t, now, &glib::TimeZone::local())
}

/// [`day_and_time`] in a given time zone.
pub fn day_and_time_in(t: u64, now: u64, tz: &glib::TimeZone) -> String {
    let (Some(at), Some(today)) = (local(t, tz), local(now, tz)) else {
        return String::new();
    };
    let time = at
        .format("%H:%M")
        .map(|s| s.to_string())
        .unwrap_or_default();
    let days = calendar_days_between(&today, &at);
    let day = match days {
        0 => "Today".to_owned(),
        1 => "Tomorrow".to_owned(),
        -1 => "Yesterday".to_owned(),
        d if d.abs() > NAMED_DAYS && at.year() == today.year() => fmt(&at, "%a %-d %b"),
        _ => fmt(&at, "%-d %b %Y"),
    };
    format!("{day} at {time}")
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
        day_and_time_in(t, now, &glib::TimeZone::utc())
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
        assert_eq!(day_and_time_in(t, MONDAY_10, &berlin), "Tomorrow at 00:30");
    }
}
