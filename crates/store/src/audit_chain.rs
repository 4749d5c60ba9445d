//! The audit log's hash chain: each entry's hash covers its content, its sequence number and the
//! previous entry's hash, so any edit, deletion or reordering breaks the chain at that entry.

use crate::model::AuditEntry;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields an entry's hash covers, in a fixed order.
pub(crate) struct Hashed<'a> {
    pub seq: i64,
    pub ts: i64,
    pub actor_id: Option<i64>,
    pub actor_name: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub outcome: &'a str,
    pub ip: &'a str,
    pub detail: &'a str,
    pub prev_hash: &'a str,
}

impl Hashed<'_> {
    /// SHA-256 over the JSON array of the fields: unambiguous without hand-made escaping.
    pub fn hash(&self) -> String {
        let canonical = serde_json::json!([
            self.seq,
            self.ts,
            self.actor_id,
            self.actor_name,
            self.action,
            self.target,
            self.outcome,
            self.ip,
            self.detail,
            self.prev_hash
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

fn hash_of(e: &AuditEntry, seq: i64) -> String {
    Hashed {
        seq,
        ts: e.ts,
        actor_id: e.actor_id,
        actor_name: &e.actor_name,
        action: &e.action,
        target: &e.target,
        outcome: &e.outcome,
        ip: &e.ip,
        detail: &e.detail,
        prev_hash: &e.prev_hash,
    }
    .hash()
}

/// What is wrong at the first broken place of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChainProblem {
    /// The entry's content no longer matches its hash.
    Changed { seq: i64 },
    /// The entry with this sequence number is missing.
    Deleted { seq: i64 },
    /// The entry now at `seq` was written as entry `original_seq`.
    Reordered { seq: i64, original_seq: i64 },
    /// The entries after `last_seq` are missing: the recorded head is `head_seq`.
    TailDeleted { last_seq: i64, head_seq: i64 },
}

impl ChainProblem {
    /// The sequence number of the first entry the problem concerns.
    pub fn seq(&self) -> i64 {
        match self {
            Self::Changed { seq } | Self::Deleted { seq } | Self::Reordered { seq, .. } => *seq,
            Self::TailDeleted { last_seq, .. } => last_seq + 1,
        }
    }
}

impl std::fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Changed { seq } => write!(f, "entry {seq} was changed"),
            Self::Deleted { seq } => write!(f, "entry {seq} was deleted"),
            Self::Reordered { seq, original_seq } => {
                write!(
                    f,
                    "entry {seq} was moved (it was written as entry {original_seq})"
                )
            }
            Self::TailDeleted { last_seq, head_seq } => write!(
                f,
                "entries {}..={head_seq} were deleted (the chain ends at {last_seq})",
                last_seq + 1
            ),
        }
    }
}

/// Result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainStatus {
    pub entries_checked: i64,
    pub problem: Option<ChainProblem>,
}

impl ChainStatus {
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// Walks entries in sequence order, carrying what it needs from one batch to the next so the log
/// can be verified in pages without holding it in memory.
#[derive(Debug)]
pub struct ChainVerifier {
    expected_seq: i64,
    prev_hash: String,
    checked: i64,
    problem: Option<ChainProblem>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            checked: 0,
            problem: None,
        }
    }
}

impl ChainVerifier {
    /// Feeds the next entries (ascending `seq`). Returns false once a problem was found.
    pub fn feed(&mut self, batch: &[AuditEntry]) -> bool {
        for e in batch {
            if self.problem.is_some() {
                return false;
            }
            self.problem = self.check(e);
            self.checked += 1;
            self.expected_seq = e.seq + 1;
            self.prev_hash.clone_from(&e.hash);
        }
        self.problem.is_none()
    }

    fn check(&self, e: &AuditEntry) -> Option<ChainProblem> {
        let content_intact = hash_of(e, e.seq) == e.hash;
        if content_intact && e.seq == self.expected_seq && e.prev_hash == self.prev_hash {
            return None;
        }
        if !content_intact {
            // An entry whose hash matches under another sequence number was moved, not edited.
            let moved_from =
                (1..=self.expected_seq + 1_000).find(|&s| s != e.seq && hash_of(e, s) == e.hash);
            return Some(match moved_from {
                Some(original_seq) => ChainProblem::Reordered {
                    seq: e.seq,
                    original_seq,
                },
                None => ChainProblem::Changed { seq: e.seq },
            });
        }
        if e.seq != self.expected_seq {
            return Some(ChainProblem::Deleted {
                seq: self.expected_seq,
            });
        }
        // Intact content and the right number, but it does not follow its predecessor.
        Some(ChainProblem::Changed { seq: e.seq - 1 })
    }

    /// Finishes the walk, comparing the end of the chain with the recorded head.
    pub fn finish(self, head: Option<(i64, String)>) -> ChainStatus {
        let last_seq = self.expected_seq - 1;
        let problem = self.problem.or_else(|| match head {
            Some((head_seq, _)) if head_seq > last_seq => {
                Some(ChainProblem::TailDeleted { last_seq, head_seq })
            }
            Some((head_seq, head_hash)) if head_seq == last_seq && head_hash != self.prev_hash => {
                Some(ChainProblem::Changed { seq: last_seq })
            }
            _ => None,
        });
        ChainStatus {
            entries_checked: self.checked,
            problem,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEntry {
                    seq,
                    ts: 1_700_000_000_000 + seq,
                    actor_id: Some(1),
                    actor_name: "admin".into(),
                    action: format!("action.{seq}"),
                    target: String::new(),
                    outcome: "success".into(),
                    ip: "127.0.0.1".into(),
                    detail: "{}".into(),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = hash_of(&e, seq);
                prev.clone_from(&e.hash);
                e
            })
            .collect()
    }

    fn verify(entries: &[AuditEntry], head: Option<(i64, String)>) -> ChainStatus {
        let mut v = ChainVerifier::default();
        v.feed(entries);
        v.finish(head)
    }

    fn head(entries: &[AuditEntry]) -> Option<(i64, String)> {
        entries.last().map(|e| (e.seq, e.hash.clone()))
    }

    #[test]
    fn an_untouched_chain_is_intact() {
        let c = chain(10);
        let status = verify(&c, head(&c));
        assert!(status.is_intact());
        assert_eq!(status.entries_checked, 10);
    }

    #[test]
    fn an_edit_is_named() {
        let mut c = chain(10);
        let h = head(&c);
        c[3].target = "someone else".into();
        assert_eq!(
            verify(&c, h).problem,
            Some(ChainProblem::Changed { seq: 4 })
        );
    }

    #[test]
    fn a_deletion_is_named() {
        let mut c = chain(10);
        let h = head(&c);
        c.remove(6);
        assert_eq!(
            verify(&c, h).problem,
            Some(ChainProblem::Deleted { seq: 7 })
        );
    }

    #[test]
    fn a_swap_is_named_as_reordering() {
        let mut c = chain(10);
        let h = head(&c);
        c.swap(2, 5);
        let (a, b) = (c[2].seq, c[5].seq);
        c[2].seq = b;
        c[5].seq = a;
        // Sorted by the claimed seq, as the store returns them.
        c.sort_by_key(|e| e.seq);
        assert_eq!(
            verify(&c, h).problem,
            Some(ChainProblem::Reordered {
                seq: 3,
                original_seq: 6
            })
        );
    }

    #[test]
    fn removing_the_newest_entries_is_named() {
        let mut c = chain(10);
        let h = head(&c);
        c.truncate(8);
        assert_eq!(
            verify(&c, h).problem,
            Some(ChainProblem::TailDeleted {
                last_seq: 8,
                head_seq: 10
            })
        );
    }

    #[test]
    fn verification_in_batches_equals_one_pass() {
        let mut c = chain(25);
        let h = head(&c);
        c[17].action = "edited".into();
        let mut v = ChainVerifier::default();
        for batch in c.chunks(4) {
            if !v.feed(batch) {
                break;
            }
        }
        assert_eq!(v.finish(h).problem, Some(ChainProblem::Changed { seq: 18 }));
    }
}
