//! The message control ids a channel has accepted, over a trailing window, so a message resent
//! (its ACK lost on the way back) is acknowledged again but stored once.

use std::collections::{HashSet, VecDeque};

/// Accepted `(sending facility, control id)` pairs received within the window.
#[derive(Debug)]
pub struct Seen {
    window_micros: i64,
    keys: HashSet<String>,
    order: VecDeque<(i64, String)>,
}

fn key(facility: &str, control_id: &str) -> String {
    format!("{facility}\u{1f}{control_id}")
}

impl Seen {
    pub fn new(window_days: i64) -> Self {
        Self {
            window_micros: window_days * 86_400_000_000,
            keys: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Records the pair; returns false when it was already there (a duplicate).
    pub fn insert(&mut self, facility: &str, control_id: &str, at: i64) -> bool {
        while let Some((t, _)) = self.order.front() {
            if *t >= at - self.window_micros {
                break;
            }
            if let Some((_, k)) = self.order.pop_front() {
                self.keys.remove(&k);
            }
        }
        let k = key(facility, control_id);
        if !self.keys.insert(k.clone()) {
            return false;
        }
        self.order.push_back((at, k));
        true
    }

    /// Forgets a pair whose message could not be stored, so its resend is taken.
    pub fn forget(&mut self, facility: &str, control_id: &str) {
        let k = key(facility, control_id);
        self.keys.remove(&k);
        self.order.retain(|(_, o)| *o != k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_caught_within_the_window_only() {
        let day = 86_400_000_000;
        let mut s = Seen::new(7);
        assert!(s.insert("H1", "C1", 0));
        assert!(!s.insert("H1", "C1", day));
        assert!(s.insert("H2", "C1", day), "control ids are per sender");
        assert!(s.insert("H1", "C2", 8 * day));
        assert!(s.insert("H1", "C1", 8 * day), "older than the window");
        s.forget("H1", "C2");
        assert!(s.insert("H1", "C2", 8 * day));
        assert!(!s.insert("H2", "C1", 8 * day));
    }
}
