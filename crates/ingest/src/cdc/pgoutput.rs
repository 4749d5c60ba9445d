//! Decoding PostgreSQL's built-in `pgoutput` logical-decoding messages (protocol version 1):
//! relations, and the inserts, updates, deletes and truncates of their rows, with values in
//! their text form.

/// A column value as the message carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    /// A TOASTed value the update did not change, so the message leaves it out.
    Unchanged,
    Text(String),
}

pub type Tuple = Vec<Value>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationColumn {
    pub name: String,
    /// Part of the replica identity (the key old rows are sent with).
    pub key: bool,
    pub type_oid: u32,
}

/// A table as the stream describes it; sent before its first change and after any change of
/// its definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub id: u32,
    pub schema: String,
    pub name: String,
    pub columns: Vec<RelationColumn>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Begin,
    Commit,
    Relation(Relation),
    Insert {
        relation: u32,
        new: Tuple,
    },
    /// `old` is present when the replica identity is FULL, or the key changed.
    Update {
        relation: u32,
        old: Option<Tuple>,
        new: Tuple,
    },
    /// `old` holds the key columns (or every column with replica identity FULL).
    Delete {
        relation: u32,
        old: Tuple,
    },
    Truncate {
        relations: Vec<u32>,
    },
    /// Origins, types and logical messages: nothing to land.
    Other,
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or_else(|| {
                format!(
                    "message ends {} bytes early",
                    self.at + n - self.bytes.len()
                )
            })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Result<String, String> {
        let rest = &self.bytes[self.at..];
        let end = rest
            .iter()
            .position(|b| *b == 0)
            .ok_or("a string has no terminating NUL")?;
        self.at += end + 1;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    fn tuple(&mut self) -> Result<Tuple, String> {
        let n = self.u16()?;
        (0..n)
            .map(|_| match self.u8()? {
                b'n' => Ok(Value::Null),
                b'u' => Ok(Value::Unchanged),
                b't' => {
                    let len = self.u32()? as usize;
                    Ok(Value::Text(
                        String::from_utf8_lossy(self.take(len)?).into_owned(),
                    ))
                }
                other => Err(format!("unknown tuple value kind `{}`", other as char)),
            })
            .collect()
    }
}

/// Decodes one message.
pub fn decode(bytes: &[u8]) -> Result<Message, String> {
    let mut r = Reader { bytes, at: 0 };
    Ok(match r.u8()? {
        b'B' => Message::Begin,
        b'C' => Message::Commit,
        b'R' => {
            let id = r.u32()?;
            let schema = r.string()?;
            let name = r.string()?;
            let _replica_identity = r.u8()?;
            let n = r.u16()?;
            let columns = (0..n)
                .map(|_| {
                    let flags = r.u8()?;
                    let name = r.string()?;
                    let type_oid = r.u32()?;
                    let _modifier = r.u32()?;
                    Ok(RelationColumn {
                        name,
                        key: flags & 1 == 1,
                        type_oid,
                    })
                })
                .collect::<Result<_, String>>()?;
            Message::Relation(Relation {
                id,
                schema,
                name,
                columns,
            })
        }
        b'I' => {
            let relation = r.u32()?;
            match r.u8()? {
                b'N' => Message::Insert {
                    relation,
                    new: r.tuple()?,
                },
                other => return Err(format!("insert: unexpected `{}`", other as char)),
            }
        }
        b'U' => {
            let relation = r.u32()?;
            let (old, marker) = match r.u8()? {
                b'K' | b'O' => (Some(r.tuple()?), r.u8()?),
                other => (None, other),
            };
            if marker != b'N' {
                return Err(format!("update: unexpected `{}`", marker as char));
            }
            Message::Update {
                relation,
                old,
                new: r.tuple()?,
            }
        }
        b'D' => {
            let relation = r.u32()?;
            match r.u8()? {
                b'K' | b'O' => Message::Delete {
                    relation,
                    old: r.tuple()?,
                },
                other => return Err(format!("delete: unexpected `{}`", other as char)),
            }
        }
        b'T' => {
            let n = r.u32()?;
            let _options = r.u8()?;
            let relations = (0..n).map(|_| r.u32()).collect::<Result<_, _>>()?;
            Message::Truncate { relations }
        }
        b'O' | b'Y' | b'M' => Message::Other,
        other => return Err(format!("unknown pgoutput message `{}`", other as char)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tuple(values: &[Option<&str>]) -> Vec<u8> {
        let mut out = (values.len() as u16).to_be_bytes().to_vec();
        for v in values {
            match v {
                None => out.push(b'n'),
                Some(t) => {
                    out.push(b't');
                    out.extend((t.len() as u32).to_be_bytes());
                    out.extend(t.as_bytes());
                }
            }
        }
        out
    }

    #[test]
    fn relations_and_row_changes_decode() {
        let mut rel = vec![b'R'];
        rel.extend(16_385u32.to_be_bytes());
        rel.extend(b"his\0mz_jzjl\0");
        rel.push(b'f');
        rel.extend(2u16.to_be_bytes());
        for (flags, name, oid) in [(1u8, "jzid", 25u32), (0, "gxsj", 1114)] {
            rel.push(flags);
            rel.extend(name.as_bytes());
            rel.push(0);
            rel.extend(oid.to_be_bytes());
            rel.extend(u32::MAX.to_be_bytes());
        }
        let Message::Relation(r) = decode(&rel).unwrap() else {
            panic!("not a relation");
        };
        assert_eq!(
            (r.id, r.schema.as_str(), r.name.as_str()),
            (16_385, "his", "mz_jzjl")
        );
        assert!(r.columns[0].key && !r.columns[1].key);

        let mut ins = vec![b'I'];
        ins.extend(16_385u32.to_be_bytes());
        ins.push(b'N');
        ins.extend(tuple(&[Some("V1"), None]));
        assert_eq!(
            decode(&ins).unwrap(),
            Message::Insert {
                relation: 16_385,
                new: vec![Value::Text("V1".into()), Value::Null]
            }
        );

        let mut upd = vec![b'U'];
        upd.extend(16_385u32.to_be_bytes());
        upd.push(b'O');
        upd.extend(tuple(&[Some("V1"), None]));
        upd.push(b'N');
        upd.extend(tuple(&[Some("V1"), Some("2026-03-01 08:00:00")]));
        let Message::Update {
            old: Some(old),
            new,
            ..
        } = decode(&upd).unwrap()
        else {
            panic!("not an update with its old row");
        };
        assert_eq!(
            (old.len(), new[1].clone()),
            (2, Value::Text("2026-03-01 08:00:00".into()))
        );

        let mut del = vec![b'D'];
        del.extend(16_385u32.to_be_bytes());
        del.push(b'K');
        del.extend(tuple(&[Some("V1"), None]));
        assert!(matches!(decode(&del).unwrap(), Message::Delete { .. }));
        assert!(decode(&del[..del.len() - 1]).unwrap_err().contains("early"));
        assert!(decode(b"Z").is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }
    }
}
