//! Caps on the Start and Stop calls that wait for polkit at once.
//!
//! Anyone may call, and a polkit check can take minutes (a person at a
//! password dialog, or a caller that runs its own agent and never answers).
//! Without caps one local user could hold every check the helper is
//! willing to wait for, and root's or the desktop user's call would be
//! refused. So each caller is capped by its unique bus name (one
//! connection) and by its uid (all of a user's connections), and all
//! callers together by a total; the per-uid cap is well below the total,
//! so one user cannot fill it. Root is not counted in the total: polkit
//! answers root at once, and no number of other users may lock it out.
//!
//! Plain state and rules, no I/O.

use std::collections::HashMap;
use std::fmt;

/// Checks one connection may have waiting: a client makes one call at a
/// time; two leave room for a Stop while its Start is still asked.
pub const PER_NAME: u32 = 2;
/// Checks one user may have waiting, over all its connections (the tray,
/// the window and `igotchuu watch` are one each).
pub const PER_UID: u32 = 4;
/// Checks all users but root may have waiting together.
pub const TOTAL: u32 = 16;

// One user must not be able to fill the total.
const _: () = assert!(PER_NAME <= PER_UID && PER_UID < TOTAL);

/// Who a pending check is counted for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The caller's unique bus name.
    pub name: String,
    /// Its uid, as the bus daemon has it from the kernel.
    pub uid: u32,
}

/// Which cap a call would go over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    Name,
    Uid,
    Total,
}

impl Exceeded {
    /// The sentence for the caller's error reply.
    pub fn message(self, key: &Key) -> String {
        match self {
            Exceeded::Name => format!(
                "{} already has {PER_NAME} calls waiting for authorization; wait for their answers",
                key.name
            ),
            Exceeded::Uid => format!(
                "uid {} already has {PER_UID} calls waiting for authorization; wait for their answers",
                key.uid
            ),
            Exceeded::Total => format!(
                "{TOTAL} calls already wait for authorization; try again in a few minutes"
            ),
        }
    }
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Exceeded::Name => "per-connection",
            Exceeded::Uid => "per-user",
            Exceeded::Total => "total",
        })
    }
}

/// The checks under way, counted per name, per uid and in total.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    by_name: HashMap<String, u32>,
    by_uid: HashMap<u32, u32>,
    /// Of all uids but root.
    total: u32,
}

impl Limits {
    /// Counts a check for `key`, unless that would go over a cap.
    pub fn admit(&mut self, key: &Key) -> Result<(), Exceeded> {
        if self.by_name.get(&key.name).copied().unwrap_or(0) >= PER_NAME {
            return Err(Exceeded::Name);
        }
        if self.by_uid.get(&key.uid).copied().unwrap_or(0) >= PER_UID {
            return Err(Exceeded::Uid);
        }
        let root = key.uid == 0;
        if !root && self.total >= TOTAL {
            return Err(Exceeded::Total);
        }
        *self.by_name.entry(key.name.clone()).or_default() += 1;
        *self.by_uid.entry(key.uid).or_default() += 1;
        if !root {
            self.total += 1;
        }
        Ok(())
    }

    /// A check counted for `key` is over.
    pub fn release(&mut self, key: &Key) {
        fn down<K: Eq + std::hash::Hash>(map: &mut HashMap<K, u32>, k: &K) {
            if let Some(n) = map.get_mut(k) {
                *n -= 1;
                if *n == 0 {
                    map.remove(k);
                }
            }
        }
        down(&mut self.by_name, &key.name);
        down(&mut self.by_uid, &key.uid);
        if key.uid != 0 {
            self.total = self.total.saturating_sub(1);
        }
    }

    /// Checks under way in all, root's included.
    #[cfg(test)]
    pub fn pending(&self) -> u32 {
        self.by_uid.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, uid: u32) -> Key {
        Key {
            name: name.into(),
            uid,
        }
    }

    #[test]
    fn one_connection_gets_its_own_cap() {
        let mut l = Limits::default();
        let a = key(":1.5", 1000);
        for _ in 0..PER_NAME {
            l.admit(&a).unwrap();
        }
        assert_eq!(l.admit(&a), Err(Exceeded::Name));
        // Another connection of the same user still may.
        l.admit(&key(":1.6", 1000)).unwrap();
        l.release(&a);
        l.admit(&a).unwrap();
    }

    #[test]
    fn one_user_cannot_fill_the_total() {
        let mut l = Limits::default();
        let mut n = 0;
        for i in 0..100 {
            if l.admit(&key(&format!(":1.{i}"), 65534)).is_ok() {
                n += 1;
            }
        }
        assert_eq!(n, PER_UID);
        assert_eq!(
            l.admit(&key(":1.500", 65534)),
            Err(Exceeded::Uid),
            "a new connection does not help"
        );
        l.admit(&key(":1.501", 1000)).unwrap();
    }

    #[test]
    fn the_total_caps_many_users_but_never_root() {
        let mut l = Limits::default();
        let mut admitted = Vec::new();
        for uid in 1000..1100 {
            for c in 0..PER_UID {
                let k = key(&format!(":{uid}.{c}"), uid);
                if l.admit(&k).is_ok() {
                    admitted.push(k);
                }
            }
        }
        assert_eq!(admitted.len() as u32, TOTAL);
        assert_eq!(l.admit(&key(":2.0", 2000)), Err(Exceeded::Total));
        l.admit(&key(":0.1", 0))
            .expect("root is not counted in the total");
        assert_eq!(l.pending(), TOTAL + 1);
        for k in &admitted {
            l.release(k);
        }
        l.release(&key(":0.1", 0));
        assert_eq!(l.pending(), 0);
        assert!(l.by_name.is_empty() && l.by_uid.is_empty());
        l.admit(&key(":2.0", 2000)).unwrap();
    }

    #[test]
    fn root_has_the_per_connection_cap_too() {
        let mut l = Limits::default();
        let r = key(":1.1", 0);
        for _ in 0..PER_NAME {
            l.admit(&r).unwrap();
        }
        assert_eq!(l.admit(&r), Err(Exceeded::Name));
    }

    #[test]
    fn messages_name_the_cap() {
        let k = key(":1.9", 65534);
        assert!(Exceeded::Uid.message(&k).contains("uid 65534"));
        assert!(Exceeded::Name.message(&k).contains(":1.9"));
        assert!(Exceeded::Total.message(&k).contains(&TOTAL.to_string()));
    }
}
