//! The annotated example configuration, `data/igotchuu.toml` (installed as
//! `/usr/share/doc/igotchuu/igotchuu.toml.example`), is one the helper
//! takes: as it is, and with every commented retention, check,
//! run-condition, staleness and wait key and the example profile turned
//! on. Only the places, the repository and the password file are swapped
//! for the fixture's, which `check-config` needs to find.

use igotchuu_e2e::config::toml_string;
use igotchuu_e2e::fixture::Fixture;
use igotchuu_e2e::have_root;
use igotchuu_e2e::helper::exit;
use igotchuu_e2e::repo_root;

/// The keys of issue 12 that the example shows commented out.
const MAINTENANCE_KEYS: [&str; 12] = [
    "keep_last",
    "keep_hourly",
    "keep_daily",
    "keep_weekly",
    "keep_monthly",
    "keep_yearly",
    "keep_within",
    "check_read_data_subset",
    "run_on_battery",
    "run_on_metered",
    "stale_after_days",
    "wait_timeout",
];

fn example() -> String {
    std::fs::read_to_string(repo_root().join("data/igotchuu.toml")).expect("data/igotchuu.toml")
}

/// `line`'s key, if it is `key = …` (or `#key = …`).
fn key_of(line: &str) -> Option<&str> {
    let line = line.trim_start_matches('#');
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    key.chars()
        .all(|c| c.is_ascii_lowercase() || c == '_')
        .then_some(key)
}

/// The example with this machine's places, repository and password file;
/// with `everything`, also the maintenance keys and the profile turned on.
fn adapted(fx: &Fixture, everything: bool) -> String {
    let home = toml_string(fx.path("home").to_str().unwrap());
    let mut in_profile = false;
    let mut out = Vec::new();
    for line in example().lines() {
        in_profile |= line.starts_with("#[profiles.");
        let on = if everything
            && line.starts_with('#')
            && (in_profile || key_of(line).is_some_and(|k| MAINTENANCE_KEYS.contains(&k)))
        {
            &line[1..]
        } else {
            line
        };
        let replaced = match key_of(on) {
            _ if on.starts_with('#') => on.to_owned(),
            Some("places") => format!("places = [{home}]"),
            Some("repo") if !in_profile => {
                format!(
                    "repo = {}",
                    toml_string(&fx.repo.location().display().to_string())
                )
            }
            Some("password_file") => format!(
                "password_file = {}",
                toml_string(&fx.repo.password_file().display().to_string())
            ),
            _ => on.to_owned(),
        };
        out.push(replaced);
    }
    out.join("\n") + "\n"
}

#[test]
fn the_example_configuration_is_accepted_with_every_key_turned_on() {
    if !have_root("the_example_configuration_is_accepted_with_every_key_turned_on") {
        return;
    }
    let fx = Fixture::new(&["home"]);

    // As shipped: no policy, so nothing is ever forgotten.
    fx.env.write_config(&adapted(&fx, false));
    let done = fx.env.run(&["check-config"]);
    done.assert_code(exit::COMPLETED);
    assert!(
        done.stdout.contains("No keep_* is set"),
        "{}",
        done.output()
    );

    // Every commented key on: each is accepted, and shown as written.
    let text = adapted(&fx, true);
    for key in MAINTENANCE_KEYS {
        assert!(
            text.lines().any(|l| key_of(l) == Some(key)),
            "the example shows no {key}:\n{text}"
        );
    }
    fx.env.write_config(&text);
    let done = fx.env.run(&["check-config"]);
    done.assert_code(exit::COMPLETED);
    for shown in [
        "keep_last = 3",
        "keep_hourly = 24",
        "keep_daily = 7",
        "keep_weekly = 4",
        "keep_monthly = 12",
        "keep_yearly = 3",
        "keep_within = \"14d\"",
        "check_read_data_subset = \"5%\"",
        "run_on_battery = true",
        "run_on_metered = true",
        "stale_after_days = 7",
        "wait_timeout = 21600",
    ] {
        assert!(
            done.stdout.lines().any(|l| l == shown),
            "check-config does not show {shown}:\n{}",
            done.output()
        );
    }

    // The example profile: its keep_daily replaces the whole policy.
    let done = fx.env.run(&["-p", "offsite", "check-config"]);
    done.assert_code(exit::COMPLETED);
    assert!(
        done.stdout.lines().any(|l| l == "keep_daily = 30"),
        "{}",
        done.output()
    );
    assert!(
        !done.stdout.contains("keep_weekly"),
        "the profile's policy is its own:\n{}",
        done.output()
    );
    assert!(fx.wrapper.invocations().is_empty(), "restic ran");
}
