//! Desktop hygiene (issue 10), against a stand-in helper on a private
//! system bus and a real desktop (Xvfb, a tray host, dunst):
//!
//! - the tray, the window and `igotchuu watch` ask the bus daemon for the
//!   helper's signals only (`sender=` in every match rule, as the daemon
//!   holds them), so a connection that is not the helper wakes none of
//!   them, and none shows what it sends;
//! - a notification's body shows the helper's words as written, on a
//!   server that reads markup: no bold, no link.
//!
//! Needs root (the stand-in owns the helper's name, and only root may read
//! the daemon's statistics). Build the binaries first: `cargo build
//! --workspace --bins`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use futures_lite::StreamExt;
use igotchuu_dbus::{Outcome, Progress, BUS_NAME, INTERFACE, OBJECT_PATH};
use igotchuu_e2e::bounded::Spawned;
use igotchuu_e2e::desktop::{drawn_text, wait_until, Desktop, Tray};
use igotchuu_e2e::helper::helper_bin;
use igotchuu_e2e::sni::Session;
use igotchuu_e2e::standin::{
    match_rules_of, sample_progress, sample_summary, standin_bus, Initial, Standin, StateDir,
};
use igotchuu_e2e::sysbus::SystemBus;
use igotchuu_e2e::window::{gui_binary, Gui, GuiOptions};
use igotchuu_e2e::{block_on, have_root};
use zbus::{MatchRule, MessageStream};

const WAIT: Duration = Duration::from_secs(20);
/// What the connection that is not the helper says.
const SPOOFED: &str = "spoofed by someone else";
/// A reason with markup in it, as a helper may pass on (a path, a
/// command's error): it must be shown as written.
const HOSTILE: &str = r#"<b>x</b> & <a href="http://evil">click</a>"#;

/// `igotchuu watch` on `bus`, reading the history in `state`; it has said
/// that it waits for a backup.
fn watch(bus: &SystemBus, state: &StateDir) -> Spawned {
    let mut cmd = Command::new(helper_bin());
    cmd.arg("watch")
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus.address())
        .env("IGOTCHUU_STATE_DIR", state.path())
        .env("NO_COLOR", "1");
    let mut w = Spawned::start("igotchuu watch", cmd);
    w.wait_for_output("Waiting for a backup to start", WAIT);
    w
}

/// Checks that every match rule of `pid` on `bus` names its sender, and
/// that one asks for the helper's object from the helper's name.
fn assert_rules_name_their_sender(bus: &SystemBus, who: &str, pid: u32) {
    wait_until(WAIT, &format!("{who} to follow the helper"), || {
        match_rules_of(bus, pid)
            .iter()
            .any(|r| r.contains(OBJECT_PATH))
    });
    let rules = match_rules_of(bus, pid);
    eprintln!("{who}'s match rules: {rules:#?}");
    for rule in &rules {
        assert!(
            rule.contains("sender='"),
            "{who}'s match rule {rule:?} lets anyone's signals wake it"
        );
    }
    let helper = format!("sender='{BUS_NAME}'");
    assert!(
        rules
            .iter()
            .any(|r| r.contains(&helper) && r.contains(OBJECT_PATH)),
        "{who} does not ask for the helper's signals from {BUS_NAME}: {rules:?}"
    );
}

/// A connection that is not the helper, sending the signals of a failed
/// run on the helper's object, well-formed. A witness that asks for any
/// sender's signals on the object (as the desktop used to) gets them.
fn spoof_a_run(bus: &SystemBus) {
    block_on(async {
        let witness = zbus::connection::Builder::address(bus.address())?
            .build()
            .await?;
        let anyone = MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .path(OBJECT_PATH)?
            .build();
        let mut heard = MessageStream::for_match_rule(anyone, &witness, None).await?;
        let conn = zbus::connection::Builder::address(bus.address())?
            .build()
            .await?;
        conn.emit_signal(None::<()>, OBJECT_PATH, INTERFACE, "BackupStarted", &())
            .await?;
        let p: Progress = sample_progress(0.5);
        conn.emit_signal(None::<()>, OBJECT_PATH, INTERFACE, "Progress", &p)
            .await?;
        conn.emit_signal(
            None::<()>,
            OBJECT_PATH,
            INTERFACE,
            "BackupFinished",
            &("failed", SPOOFED),
        )
        .await?;
        let sender = conn.unique_name().expect("a unique name").to_string();
        let mut members = Vec::new();
        while members.len() < 3 {
            let msg = heard.next().await.expect("the witness's stream")?;
            let header = msg.header();
            assert_eq!(header.sender().map(|s| s.as_str()), Some(sender.as_str()));
            members.extend(header.member().map(|m| m.to_string()));
        }
        assert_eq!(members, ["BackupStarted", "Progress", "BackupFinished"]);
        conn.close().await
    })
    .expect("the other connection sends its signals");
}

#[test]
fn only_the_helper_wakes_the_tray_the_window_and_watch() {
    if !have_root("only_the_helper_wakes_the_tray_the_window_and_watch") {
        return;
    }
    let bus = standin_bus();
    let state = StateDir::new(vec![]);
    let helper = Standin::start(&bus, Initial::default());
    let desktop = Desktop::start(true);
    let tray = Tray::start(
        &desktop,
        bus.address(),
        state.path(),
        Path::new("/bin/true"),
    );
    let session = block_on(Session::connect(desktop.session_address()));
    block_on(session.wait_registered(WAIT));
    let mut gui = Gui::launch(
        desktop.screen(),
        &GuiOptions {
            system_bus: bus.address(),
            state_dir: state.path(),
            size: None,
            binary: gui_binary(),
        },
    );
    let watcher = watch(&bus, &state);

    assert_rules_name_their_sender(&bus, "the tray", tray.pid());
    assert_rules_name_their_sender(&bus, "the window", gui.pid());
    assert_rules_name_their_sender(&bus, "igotchuu watch", watcher.pid() as u32);

    // Someone else's run, then the helper's: each client shows the
    // helper's run alone.
    spoof_a_run(&bus);
    helper.begin(&["/home"]);
    helper.finish(Outcome::Completed, "", Some(&sample_summary("0123abcd")));
    wait_until(WAIT, "the completed notification", || {
        desktop.notifications_displayed() == 1
    });
    let seen = desktop.close_and_read_notifications();
    assert_eq!(seen.len(), 1, "one notification, the helper's: {seen:?}");
    assert_eq!(seen[0].0, "Backup completed", "{seen:?}");
    assert!(!tray.log().contains(SPOOFED), "{}", tray.log());

    gui.wait_for("the helper's completed run", |t| t.contains("0123abcd"));
    assert!(
        !gui.texts().iter().any(|t| t.contains(SPOOFED)),
        "the window showed the other connection's run: {:?}",
        gui.texts()
    );

    let ended = watcher.wait(WAIT);
    eprintln!("{}", ended.output());
    ended.assert_code(0);
    assert!(!ended.output().contains(SPOOFED), "{}", ended.output());
}

#[test]
fn a_notification_body_shows_the_helpers_words_as_written() {
    if !have_root("a_notification_body_shows_the_helpers_words_as_written") {
        return;
    }
    let bus = standin_bus();
    let state = StateDir::new(vec![]);
    let helper = Standin::start(&bus, Initial::default());
    let desktop = Desktop::start_reading_markup(true);
    let _tray = Tray::start(
        &desktop,
        bus.address(),
        state.path(),
        Path::new("/bin/true"),
    );
    let session = block_on(Session::connect(desktop.session_address()));
    block_on(session.wait_registered(WAIT));

    helper.begin(&["/home"]);
    helper.finish(Outcome::Failed, HOSTILE, None);
    wait_until(WAIT, "the failed notification", || {
        desktop.notifications_displayed() == 1
    });
    let seen = desktop.close_and_read_drawn();
    eprintln!("dunst drew: {seen:?}");
    let [(summary, drawn)] = seen.as_slice() else {
        panic!("one notification: {seen:?}");
    };
    assert_eq!(summary, "Backup failed");
    // dunst draws the summary in bold, then the body as it read it.
    assert_eq!(
        drawn_text(drawn),
        format!("Backup failed\n{HOSTILE}. No snapshot was saved."),
        "the body is not shown as written: dunst drew {drawn:?}"
    );
    assert!(!drawn.contains("<b>x"), "bold: {drawn:?}");
}
