//! Numbers for people: sizes, durations, time left, and how long ago.
//!
//! Sizes follow GLib's `g_format_size()` to the byte, so that the tray (which
//! has no GLib) and the window (which uses GLib's own) never disagree about
//! the same number.

/// GLib's units for `G_FORMAT_SIZE_DEFAULT`: SI, powers of 1000.
const SIZE_UNITS: [(u64, &str); 6] = [
    (1_000, "kB"),
    (1_000_000, "MB"),
    (1_000_000_000, "GB"),
    (1_000_000_000_000, "TB"),
    (1_000_000_000_000_000, "PB"),
    (1_000_000_000_000_000_000, "EB"),
];

/// GLib puts a no-break space between a value and its unit, so that "1.2 MB"
/// never breaks across lines; byte counts use a plain space ("512 bytes").
const UNIT_SPACE: char = '\u{a0}';

use crate::i18n::{fill, gettext, ngettext_n};

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;
/// An average month, for "3 months ago"; calendar accuracy does not matter there.
const MONTH: u64 = 30 * DAY;
const YEAR: u64 = 365 * DAY;

/// A size in bytes, exactly as GLib's `g_format_size()` writes it:
/// "1 byte", "512 bytes", "1.2 kB", "1000.0 kB", "18.4 EB".
///
/// The unit is chosen before rounding, as GLib does, so 999 999 bytes are
/// "1000.0 kB" rather than "1.0 MB".
pub fn size(bytes: u64) -> String {
    if bytes < SIZE_UNITS[0].0 {
        return ngettext_n("{n} byte", "{n} bytes", bytes);
    }
    let (factor, unit) = SIZE_UNITS
        .iter()
        .rev()
        .find(|(factor, _)| bytes >= *factor)
        .copied()
        .unwrap_or(SIZE_UNITS[0]);
    // Rust and glibc both round the exact binary value half to even, so
    // "{:.1}" and printf's "%.1f" agree digit for digit.
    let number = format!("{:.1}", bytes as f64 / factor as f64);
    // printf writes the locale's decimal point: "1,2 MB" in German.
    let number = number.replace('.', &decimal_point());
    format!("{number}{UNIT_SPACE}{unit}")
}

/// The decimal point of the locale that `setlocale` chose (LC_NUMERIC):
/// "." until [`crate::i18n::init`], and in unit tests.
fn decimal_point() -> String {
    // SAFETY: nl_langinfo returns a string owned by the C library that
    // stays valid until the next setlocale, which only main calls, once,
    // before any thread starts (i18n::init); it is copied at once.
    let radix = unsafe {
        let p = libc::nl_langinfo(libc::RADIXCHAR);
        if p.is_null() {
            return ".".to_owned();
        }
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    };
    if radix.is_empty() {
        ".".to_owned()
    } else {
        radix
    }
}

/// How long something took: "less than a second", "45 seconds",
/// "1 minute", "3 minutes", "2 hours 5 minutes".
pub fn duration(seconds: u64) -> String {
    if seconds == 0 {
        // A small incremental backup: "took 0 seconds" reads like an error.
        return gettext("less than a second");
    }
    if seconds < MINUTE {
        return ngettext_n("{n} second", "{n} seconds", seconds);
    }
    if seconds < HOUR {
        // Rounded to the nearest minute: 3 min 40 s reads as "4 minutes".
        let minutes = ((seconds + MINUTE / 2) / MINUTE).min(59);
        return ngettext_n("{n} minute", "{n} minutes", minutes);
    }
    hours_and_minutes(seconds)
}

/// The time left of a run, from restic's estimate: "less than a minute left",
/// "about 3 min left", "about 2 h 5 min left".
pub fn eta(seconds_remaining: u64) -> String {
    if seconds_remaining < MINUTE {
        return gettext("less than a minute left");
    }
    // Rounded up: "about 1 min left" with 61 s to go would undersell it.
    let minutes = seconds_remaining.div_ceil(MINUTE);
    let (h, m) = (minutes / 60, minutes % 60);
    let template = match (h, m) {
        // xgettext: {m} is minutes.
        (0, _) => gettext("about {m} min left"),
        // xgettext: {h} is hours.
        (_, 0) => gettext("about {h} h left"),
        // xgettext: {h} is hours, {m} minutes.
        _ => gettext("about {h} h {m} min left"),
    };
    fill(&template, &[("h", &h.to_string()), ("m", &m.to_string())])
}

/// When something happened, seen from `now` (both in seconds since the Unix
/// epoch): "just now", "5 minutes ago", "2 hours ago", "yesterday",
/// "3 days ago", "2 weeks ago", "4 months ago", "2 years ago".
///
/// A time in the future (a clock that moved back) reads as "just now".
pub fn ago(then: u64, now: u64) -> String {
    let elapsed = now.saturating_sub(then);
    // Whole phrases, for languages where "ago" comes first ("vor 2 Tagen").
    if elapsed < MINUTE {
        gettext("just now")
    } else if elapsed < HOUR {
        ngettext_n("{n} minute ago", "{n} minutes ago", elapsed / MINUTE)
    } else if elapsed < DAY {
        ngettext_n("{n} hour ago", "{n} hours ago", elapsed / HOUR)
    } else if elapsed < 2 * DAY {
        gettext("yesterday")
    } else if elapsed < 2 * WEEK {
        ngettext_n("{n} day ago", "{n} days ago", elapsed / DAY)
    } else if elapsed < 2 * MONTH {
        ngettext_n("{n} week ago", "{n} weeks ago", elapsed / WEEK)
    } else if elapsed < YEAR {
        ngettext_n("{n} month ago", "{n} months ago", elapsed / MONTH)
    } else {
        ngettext_n("{n} year ago", "{n} years ago", elapsed / YEAR)
    }
}

/// A percentage of a fraction from 0 to 1, floored so that 100 % means done:
/// "42 %".
pub fn percent(fraction: f64) -> String {
    let p = if fraction.is_finite() {
        (fraction.clamp(0.0, 1.0) * 100.0).floor() as u64
    } else {
        0
    };
    format!("{p}\u{a0}%")
}

fn hours_and_minutes(seconds: u64) -> String {
    let minutes = (seconds + MINUTE / 2) / MINUTE;
    let (h, m) = (minutes / 60, minutes % 60);
    let hours = ngettext_n("{n} hour", "{n} hours", h);
    if m == 0 {
        hours
    } else {
        let minutes = ngettext_n("{n} minute", "{n} minutes", m);
        fill(
            // xgettext: a duration, e.g. "2 hours 5 minutes".
            &gettext("{hours} {minutes}"),
            &[("hours", &hours), ("minutes", &minutes)],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by GLib 2.74's `g_format_size()` (Debian 12), byte for byte:
    /// a C program printed these, with the no-break space it puts before
    /// units.
    const GLIB: &[(u64, &str)] = &[
        (0, "0 bytes"),
        (1, "1 byte"),
        (2, "2 bytes"),
        (999, "999 bytes"),
        (1000, "1.0\u{a0}kB"),
        (1023, "1.0\u{a0}kB"),
        (1024, "1.0\u{a0}kB"),
        (1049, "1.0\u{a0}kB"),
        (1050, "1.1\u{a0}kB"),
        (1149, "1.1\u{a0}kB"),
        (1150, "1.1\u{a0}kB"),
        (1250, "1.2\u{a0}kB"),
        (1350, "1.4\u{a0}kB"),
        (9999, "10.0\u{a0}kB"),
        (99949, "99.9\u{a0}kB"),
        (99950, "100.0\u{a0}kB"),
        (999949, "999.9\u{a0}kB"),
        (999950, "1000.0\u{a0}kB"),
        (999999, "1000.0\u{a0}kB"),
        (1000000, "1.0\u{a0}MB"),
        (1234567, "1.2\u{a0}MB"),
        (1250000, "1.2\u{a0}MB"),
        (1550000, "1.6\u{a0}MB"),
        (1000000000, "1.0\u{a0}GB"),
        (999999999999, "1000.0\u{a0}GB"),
        (1000000000000, "1.0\u{a0}TB"),
        (12345678901234, "12.3\u{a0}TB"),
        (1000000000000000, "1.0\u{a0}PB"),
        (1000000000000000000, "1.0\u{a0}EB"),
        (u64::MAX, "18.4\u{a0}EB"),
    ];

    #[test]
    fn sizes_match_glib() {
        for &(bytes, glib) in GLIB {
            assert_eq!(size(bytes), glib, "{bytes} bytes");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration(0), "less than a second");
        assert_eq!(duration(1), "1 second");
        assert_eq!(duration(59), "59 seconds");
        assert_eq!(duration(60), "1 minute");
        assert_eq!(duration(89), "1 minute");
        assert_eq!(duration(90), "2 minutes");
        assert_eq!(duration(3599), "59 minutes");
        assert_eq!(duration(3600), "1 hour");
        assert_eq!(duration(2 * 3600 + 5 * 60 + 10), "2 hours 5 minutes");
        assert_eq!(duration(3600 + 60), "1 hour 1 minute");
    }

    #[test]
    fn time_left() {
        assert_eq!(eta(0), "less than a minute left");
        assert_eq!(eta(59), "less than a minute left");
        assert_eq!(eta(60), "about 1 min left");
        assert_eq!(eta(61), "about 2 min left");
        assert_eq!(eta(180), "about 3 min left");
        assert_eq!(eta(3600), "about 1 h left");
        assert_eq!(eta(2 * 3600 + 4 * 60 + 1), "about 2 h 5 min left");
    }

    #[test]
    fn relative_times() {
        let now = 1_700_000_000;
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now + 300, now), "just now", "future");
        assert_eq!(ago(now - 59, now), "just now");
        assert_eq!(ago(now - 60, now), "1 minute ago");
        assert_eq!(ago(now - 5 * 60 - 30, now), "5 minutes ago");
        assert_eq!(ago(now - HOUR, now), "1 hour ago");
        assert_eq!(ago(now - 2 * HOUR - 59 * 60, now), "2 hours ago");
        assert_eq!(ago(now - DAY + 1, now), "23 hours ago");
        assert_eq!(ago(now - DAY, now), "yesterday");
        assert_eq!(ago(now - 2 * DAY + 1, now), "yesterday");
        assert_eq!(ago(now - 2 * DAY, now), "2 days ago");
        assert_eq!(ago(now - 13 * DAY, now), "13 days ago");
        assert_eq!(ago(now - 14 * DAY, now), "2 weeks ago");
        assert_eq!(ago(now - 70 * DAY, now), "2 months ago");
        assert_eq!(ago(now - 400 * DAY, now), "1 year ago");
        assert_eq!(ago(0, now), "53 years ago");
    }

    #[test]
    fn percentages_floor_and_clamp() {
        assert_eq!(percent(0.0), "0\u{a0}%");
        assert_eq!(percent(0.4299), "42\u{a0}%");
        assert_eq!(percent(0.999), "99\u{a0}%");
        assert_eq!(percent(1.0), "100\u{a0}%");
        assert_eq!(percent(7.0), "100\u{a0}%");
        assert_eq!(percent(-1.0), "0\u{a0}%");
        assert_eq!(percent(f64::NAN), "0\u{a0}%");
    }
}
