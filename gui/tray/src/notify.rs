//! Desktop notifications (`org.freedesktop.Notifications` on the session
//! bus): each one replaces the previous, and offers "Show details". The
//! body is escaped for a server that reads markup (see
//! [`igotchuu_desktop::markup`]), so that the helper's words show as sent.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use futures_lite::FutureExt;
use igotchuu_desktop::i18n::gettext;
use igotchuu_desktop::markup;
use igotchuu_desktop::texts::Notice;
use notify_rust::{Hint, Notification, NotificationHandle, NotificationResponse, Timeout, Urgency};

/// The action key of "Show details"; it opens the window.
pub const SHOW_DETAILS: &str = "show-details";
/// The action key of "Back up now", on reminders that backups are stale.
pub const BACK_UP_NOW: &str = "back-up-now";
const APP_ICON: &str = "com.nyantec.IGotChuu";
const DESKTOP_ENTRY: &str = "com.nyantec.IGotChuu";
const SERVER: &str = "org.freedesktop.Notifications";
const SERVER_PATH: &str = "/org/freedesktop/Notifications";

/// Resolves with the action the person chose, or `None` when the
/// notification was closed (or replaced) without one.
pub type ActionWait = Pin<Box<dyn Future<Output = Option<String>> + Send>>;

#[derive(Default)]
pub struct Notifier {
    /// The id of the last notification, so that the next one replaces it.
    last_id: Option<u32>,
}

impl Notifier {
    /// Shows `notice`, replacing the previous notification. Returns a
    /// future for its action; drop the previous one first.
    pub async fn show(&mut self, notice: &Notice) -> Option<ActionWait> {
        // Asked each time: the server may have been replaced since.
        let body = markup::body_for(&notice.body, capabilities().await.as_deref());
        let mut n = Notification::new();
        n.appname("igotchuu")
            .summary(&notice.title)
            .body(&body)
            .icon(APP_ICON)
            .hint(Hint::DesktopEntry(DESKTOP_ENTRY.into()))
            // "default" is a click on the notification itself.
            .action("default", &gettext("Show details"))
            .action(SHOW_DETAILS, &gettext("Show details"))
            .timeout(Timeout::Default);
        if notice.back_up_now {
            n.action(BACK_UP_NOW, &gettext("Back up now"));
        }
        if notice.urgent {
            n.urgency(Urgency::Critical);
        }
        if let Some(id) = self.last_id {
            n.id(id);
        }
        match n.show_async().await {
            Ok(handle) => {
                self.last_id = Some(handle.id());
                tracing::info!("notified: {}: {}", notice.title, notice.body);
                Some(wait_for_action(handle))
            }
            Err(e) => {
                tracing::warn!("cannot show the notification \"{}\": {e}", notice.title);
                None
            }
        }
    }
}

impl Notifier {
    /// Withdraws the last notification, if the server still shows it.
    pub async fn withdraw(&mut self) {
        let Some(id) = self.last_id.take() else {
            return;
        };
        let closed = async {
            let conn = zbus::Connection::session().await?;
            conn.call_method(
                Some(SERVER),
                SERVER_PATH,
                Some(SERVER),
                "CloseNotification",
                &(id,),
            )
            .await
        };
        // An error only says that it was closed already.
        if let Err(e) = closed.await {
            tracing::debug!("CloseNotification({id}): {e}");
        }
    }
}

/// The notification server's capabilities; `None` if it cannot say.
async fn capabilities() -> Option<Vec<String>> {
    let asked = async {
        let conn = zbus::Connection::session().await?;
        let reply = conn
            .call_method(
                Some(SERVER),
                SERVER_PATH,
                Some(SERVER),
                "GetCapabilities",
                &(),
            )
            .await?;
        reply.body().deserialize::<Vec<String>>()
    };
    match asked.await {
        Ok(caps) => Some(caps),
        Err(e) => {
            tracing::warn!("cannot read the notification server's capabilities: {e}");
            None
        }
    }
}

fn wait_for_action(handle: NotificationHandle) -> ActionWait {
    Box::pin(async move {
        let mut chosen = None;
        let wait = handle.wait_for_action_async(|response| {
            chosen = match response {
                NotificationResponse::Action(key) => Some(key.clone()),
                // Clicking the notification itself shows the details too.
                NotificationResponse::Default => Some(SHOW_DETAILS.to_owned()),
                _ => None,
            };
        });
        // notify-rust panics when the session bus fails under it; that must
        // cost the action, not the tray.
        if AssertUnwindSafe(wait).catch_unwind().await.is_err() {
            tracing::warn!("lost the notification's actions: the session bus failed");
        }
        chosen
    })
}
