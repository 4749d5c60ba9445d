//! Field paths: how a mapping names a value in a message, the way interface analysts write it.
//!
//! - `PID-7`: field 7's first repetition (components kept, separated by `^`);
//! - `PID-11.9`: component 9 of field 11;
//! - `PID-3[NNCHN]`: the repetition whose identifier type (CX component 5) or coding system
//!   (CE/CWE component 3) is `NNCHN`, component 1 unless a component follows (`PID-3[PI].4`).

use crate::message::{Message, Segment};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    pub segment: String,
    pub field: usize,
    pub selector: Option<String>,
    pub component: Option<usize>,
}

impl FieldPath {
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a field path such as PID-7, PID-11.9 or PID-3[PI]");
        let (segment, rest) = text.split_once('-').ok_or_else(bad)?;
        if segment.len() != 3 || !segment.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(bad());
        }
        let (field, rest) = match rest.find(['[', '.']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let field: usize = field.parse().map_err(|_| bad())?;
        let (selector, rest) = match rest.strip_prefix('[') {
            Some(r) => {
                let (sel, after) = r.split_once(']').ok_or_else(bad)?;
                if sel.is_empty() {
                    return Err(bad());
                }
                (Some(sel.to_owned()), after)
            }
            None => (None, rest),
        };
        let component = match rest.strip_prefix('.') {
            Some(c) => Some(c.parse().ok().filter(|c| *c > 0).ok_or_else(bad)?),
            None if rest.is_empty() => None,
            None => return Err(bad()),
        };
        if field == 0 {
            return Err(bad());
        }
        Ok(Self {
            segment: segment.to_owned(),
            field,
            selector,
            component,
        })
    }

    /// The value at this path in `segment` of `message`.
    pub fn read(&self, message: &Message, segment: &Segment) -> Option<String> {
        match (&self.selector, self.component) {
            (None, None) => message.field(segment, self.field),
            (None, Some(c)) => message.component(segment, self.field, c),
            (Some(sel), c) => message
                .repetitions(segment, self.field)
                .into_iter()
                .find(|rep| {
                    rep.get(4).is_some_and(|t| t == sel) || rep.get(2).is_some_and(|t| t == sel)
                })
                .and_then(|rep| rep.into_iter().nth(c.unwrap_or(1) - 1))
                .filter(|v| !v.is_empty()),
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.segment, self.field)?;
        if let Some(s) = &self.selector {
            write!(f, "[{s}]")?;
        }
        if let Some(c) = self.component {
            write!(f, ".{c}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_what_they_name() {
        let m = Message::parse(
            "MSH|^~\\&|HIS|H1\rPID|1||P1^^^H1^PI~330102^^^CHN^NNCHN||刘敏||20180820|F|||路181号^^^^^CHN^H^^331002\r\
             OBX|1|NM|6690-2^白细胞^LN~LWBC^白细胞^L||10.8",
        )
        .unwrap();
        let pid = m.first("PID").unwrap();
        let obx = m.first("OBX").unwrap();
        let read = |p: &str, s| FieldPath::parse(p).unwrap().read(&m, s);
        assert_eq!(read("PID-3[NNCHN]", pid).as_deref(), Some("330102"));
        assert_eq!(read("PID-3[PI].4", pid).as_deref(), Some("H1"));
        assert_eq!(read("PID-11.9", pid).as_deref(), Some("331002"));
        assert_eq!(read("PID-7", pid).as_deref(), Some("20180820"));
        assert_eq!(read("OBX-3[LN]", obx).as_deref(), Some("6690-2"));
        assert_eq!(read("OBX-3[L]", obx).as_deref(), Some("LWBC"));
        assert_eq!(read("OBX-3[XX]", obx), None);
        for p in ["PID-3[PI].4", "OBX-3[LN]", "PID-11.9", "MSH-10"] {
            assert_eq!(FieldPath::parse(p).unwrap().to_string(), p);
        }
    }

    #[test]
    fn bad_paths_are_refused() {
        for bad in [
            "PID", "PID-", "PID-0", "PID-x", "PI-3", "PID-3[]", "PID-3[PI", "PID-3.0", "PID-3x",
        ] {
            assert!(FieldPath::parse(bad).is_err(), "{bad}");
        }
    }
}
