//! A tray host's view of StatusNotifierItems, over the session bus: the
//! watcher's registered items, an item's title, icon and tooltip, and
//! clicks on its menu (com.canonical.dbusmenu) and on the icon itself.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use zbus::zvariant::{OwnedValue, Value};

/// How often [`Session::wait_for`] looks again.
const POLL: Duration = Duration::from_millis(50);

/// Talks to the session bus as a tray host would.
pub struct Session {
    conn: zbus::Connection,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ItemView {
    pub title: String,
    pub icon: String,
    pub tooltip_title: String,
    pub tooltip: String,
}

impl Session {
    pub async fn connect(address: &str) -> Session {
        let conn = zbus::connection::Builder::address(address)
            .unwrap()
            .build()
            .await
            .expect("connect to the session bus");
        Session { conn }
    }

    pub async fn get(&self, dest: &str, path: &str, iface: &str, name: &str) -> Option<OwnedValue> {
        let reply = self
            .conn
            .call_method(
                Some(dest),
                path,
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &(iface, name),
            )
            .await
            .ok()?;
        reply.body().deserialize::<OwnedValue>().ok()
    }

    /// The watcher's registered items, as (bus name, object path).
    pub async fn registered_items(&self) -> Vec<(String, String)> {
        let Some(v) = self
            .get(
                "org.kde.StatusNotifierWatcher",
                "/StatusNotifierWatcher",
                "org.kde.StatusNotifierWatcher",
                "RegisteredStatusNotifierItems",
            )
            .await
        else {
            return vec![];
        };
        let items = Vec::<String>::try_from(v).unwrap_or_default();
        items
            .into_iter()
            .map(|i| match i.split_once('/') {
                Some((name, path)) => (name.to_owned(), format!("/{path}")),
                None => (i, "/StatusNotifierItem".to_owned()),
            })
            .collect()
    }

    pub async fn item(&self, (dest, path): &(String, String)) -> Option<ItemView> {
        let prop = |name: &'static str| self.get(dest, path, "org.kde.StatusNotifierItem", name);
        let title = String::try_from(prop("Title").await?).ok()?;
        let icon = String::try_from(prop("IconName").await?).ok()?;
        let (_, _, tooltip_title, tooltip) =
            <(String, Vec<(i32, i32, Vec<u8>)>, String, String)>::try_from(prop("ToolTip").await?)
                .ok()?;
        Some(ItemView {
            title,
            icon,
            tooltip_title,
            tooltip,
        })
    }

    /// Clicks the menu item labelled `label`, through com.canonical.dbusmenu.
    pub async fn click(&self, (dest, path): &(String, String), label: &str) {
        let menu = self
            .get(dest, path, "org.kde.StatusNotifierItem", "Menu")
            .await;
        let menu = menu
            .and_then(|m| zbus::zvariant::OwnedObjectPath::try_from(m).ok())
            .expect("the item has a menu");
        let reply = self
            .conn
            .call_method(
                Some(dest.as_str()),
                menu.as_str(),
                Some("com.canonical.dbusmenu"),
                "GetLayout",
                &(0i32, -1i32, Vec::<String>::new()),
            )
            .await
            .expect("GetLayout");
        let (_, root): (u32, MenuNode) = reply.body().deserialize().unwrap();
        let id = find_menu_item(root, label).unwrap_or_else(|| panic!("no menu item {label:?}"));
        self.conn
            .call_method(
                Some(dest.as_str()),
                menu.as_str(),
                Some("com.canonical.dbusmenu"),
                "Event",
                &(id, "clicked", Value::from(0i32), 0u32),
            )
            .await
            .expect("menu Event");
    }

    /// The labels of the menu's items that are visible, in order.
    pub async fn menu_labels(&self, (dest, path): &(String, String)) -> Vec<String> {
        let menu = self
            .get(dest, path, "org.kde.StatusNotifierItem", "Menu")
            .await
            .and_then(|m| zbus::zvariant::OwnedObjectPath::try_from(m).ok())
            .expect("the item has a menu");
        let reply = self
            .conn
            .call_method(
                Some(dest.as_str()),
                menu.as_str(),
                Some("com.canonical.dbusmenu"),
                "GetLayout",
                &(0i32, -1i32, Vec::<String>::new()),
            )
            .await
            .expect("GetLayout");
        let (_, root): (u32, MenuNode) = reply.body().deserialize().unwrap();
        let mut labels = Vec::new();
        visible_labels(root, &mut labels);
        labels
    }

    /// Waits until the item shows what `ok` wants, and returns that view;
    /// panics after `timeout`, with what it last showed.
    pub async fn wait_for(
        &self,
        item: &(String, String),
        timeout: Duration,
        what: &str,
        ok: impl Fn(&ItemView) -> bool,
    ) -> ItemView {
        let end = Instant::now() + timeout;
        loop {
            let last = self.item(item).await;
            if let Some(view) = last.as_ref().filter(|v| ok(v)) {
                eprintln!("{what}: {view:?}");
                return view.clone();
            }
            assert!(
                Instant::now() < end,
                "timed out waiting for {what}; the item shows {last:?}"
            );
            async_io::Timer::after(POLL).await;
        }
    }

    /// Waits until the watcher has an item registered, and returns it.
    pub async fn wait_registered(&self, timeout: Duration) -> (String, String) {
        let end = Instant::now() + timeout;
        loop {
            if let Some(item) = self.registered_items().await.into_iter().next() {
                return item;
            }
            assert!(
                Instant::now() < end,
                "no item registered with the watcher within {timeout:?}"
            );
            async_io::Timer::after(POLL).await;
        }
    }

    pub async fn activate(&self, (dest, path): &(String, String)) {
        self.conn
            .call_method(
                Some(dest.as_str()),
                path.as_str(),
                Some("org.kde.StatusNotifierItem"),
                "Activate",
                &(0i32, 0i32),
            )
            .await
            .expect("Activate");
    }
}

/// A dbusmenu layout node: `(ia{sv}av)`.
pub type MenuNode = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);

/// The id of the item labelled `label` in a dbusmenu layout.
pub fn find_menu_item((id, props, children): MenuNode, label: &str) -> Option<i32> {
    let this = props
        .get("label")
        .and_then(|l| l.downcast_ref::<&str>().ok())
        .is_some_and(|l| l == label);
    if this {
        return Some(id);
    }
    children
        .into_iter()
        .filter_map(|c| MenuNode::try_from(c).ok())
        .find_map(|c| find_menu_item(c, label))
}

/// The labels of the visible items under `node`, depth first.
fn visible_labels((_, props, children): MenuNode, out: &mut Vec<String>) {
    let visible = props
        .get("visible")
        .and_then(|v| v.downcast_ref::<bool>().ok())
        .unwrap_or(true);
    if !visible {
        return;
    }
    if let Some(label) = props
        .get("label")
        .and_then(|l| l.downcast_ref::<&str>().ok())
    {
        out.push(label.to_owned());
    }
    for c in children {
        if let Ok(c) = MenuNode::try_from(c) {
            visible_labels(c, out);
        }
    }
}
