//! A channel's journal: the durable log a message is written to before it is acknowledged.
//!
//! Records are appended to segment files named by their first offset, each record framed as
//! length, CRC-32 and payload. One writer thread batches concurrent appends into a single write
//! and `fdatasync` (group commit), so many senders share one disk flush. Offsets are global byte
//! positions across segments; the lander reads from its checkpoint, and segments wholly before
//! the checkpoint are deleted. A torn record at the end (a crash mid-write) is cut off on open:
//! it was never acknowledged.

use crate::IngestError;
use std::{
    fs::{self, File, OpenOptions},
    io::{self, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    thread,
};
use tokio::sync::{mpsc, oneshot, watch};

const HEADER: usize = 8;
/// A new segment starts once the current one is this large.
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// The most appends one flush takes.
const GROUP: usize = 4096;

/// Records with their offsets, in journal order.
pub type Records = Vec<(u64, Vec<u8>)>;

fn segment_name(start: u64) -> String {
    format!("{start:020}.log")
}

fn segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut starts: Vec<u64> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse().ok())
        .collect();
    starts.sort_unstable();
    Ok(starts)
}

fn journal_error(dir: &Path, e: impl std::fmt::Display) -> IngestError {
    IngestError::Journal {
        path: dir.display().to_string(),
        reason: e.to_string(),
    }
}

/// Reads whole records from `file` starting at its current position, stopping at the first
/// incomplete or corrupt one; returns the records and the length of the valid prefix read.
fn read_records(
    file: &mut File,
    from: u64,
    max_records: usize,
    until: u64,
) -> io::Result<(Records, u64)> {
    let mut out = Vec::new();
    let mut at = from;
    let mut header = [0u8; HEADER];
    while out.len() < max_records && at < until {
        if file.read_exact(&mut header).is_err() {
            break;
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let mut payload = vec![0u8; len];
        if file.read_exact(&mut payload).is_err() || crc32fast::hash(&payload) != crc {
            break;
        }
        out.push((at, payload));
        at += (HEADER + len) as u64;
    }
    Ok((out, at))
}

struct Append {
    payload: Vec<u8>,
    done: oneshot::Sender<io::Result<u64>>,
}

/// The append side of a journal. Cloning shares the one writer.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
    appends: mpsc::Sender<Append>,
    durable: watch::Receiver<u64>,
}

impl std::fmt::Debug for Append {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Append({} bytes)", self.payload.len())
    }
}

struct Writer {
    dir: PathBuf,
    segment_bytes: u64,
    file: File,
    segment_start: u64,
    end: u64,
}

impl Writer {
    fn open(dir: &Path, segment_bytes: u64) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let starts = segments(dir)?;
        let segment_start = starts.last().copied().unwrap_or(0);
        let path = dir.join(segment_name(segment_start));
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        file.seek(SeekFrom::Start(0))?;
        let (_, valid) = read_records(&mut file, segment_start, usize::MAX, u64::MAX)?;
        let valid_len = valid - segment_start;
        if file.metadata()?.len() > valid_len {
            tracing::warn!(
                path = %path.display(),
                cut = file.metadata()?.len() - valid_len,
                "cutting a torn record off the journal (written but never acknowledged)"
            );
            file.set_len(valid_len)?;
            file.sync_all()?;
        }
        File::open(dir)?.sync_all()?;
        Ok(Self {
            dir: dir.to_owned(),
            segment_bytes,
            file,
            segment_start,
            end: valid,
        })
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.segment_start = self.end;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(segment_name(self.end)))?;
        File::open(&self.dir)?.sync_all()
    }

    /// Writes a group of appends with one flush; returns each record's offset.
    fn write(&mut self, group: &[Vec<u8>]) -> io::Result<Vec<u64>> {
        if self.end - self.segment_start >= self.segment_bytes {
            self.rotate()?;
        }
        let mut buf = Vec::with_capacity(group.iter().map(|p| p.len() + HEADER).sum());
        let mut offsets = Vec::with_capacity(group.len());
        let mut at = self.end;
        for p in group {
            let len = u32::try_from(p.len())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "record too large"))?;
            buf.extend_from_slice(&len.to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(p).to_le_bytes());
            buf.extend_from_slice(p);
            offsets.push(at);
            at += (HEADER + p.len()) as u64;
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        self.end = at;
        Ok(offsets)
    }
}

impl Journal {
    /// Opens (or creates) the journal in `dir`, cutting off a torn last record, and starts its
    /// writer thread. The thread ends when every `Journal` clone is dropped.
    pub fn open(dir: &Path) -> Result<Self, IngestError> {
        let mut writer = Writer::open(dir, SEGMENT_BYTES).map_err(|e| journal_error(dir, e))?;
        let (appends, mut rx) = mpsc::channel::<Append>(GROUP * 4);
        let (durable_tx, durable) = watch::channel(writer.end);
        thread::Builder::new()
            .name("hdos-journal".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut group = vec![first];
                    while group.len() < GROUP {
                        match rx.try_recv() {
                            Ok(a) => group.push(a),
                            Err(_) => break,
                        }
                    }
                    let payloads: Vec<Vec<u8>> = group
                        .iter_mut()
                        .map(|a| std::mem::take(&mut a.payload))
                        .collect();
                    match writer.write(&payloads) {
                        Ok(offsets) => {
                            durable_tx.send_replace(writer.end);
                            for (a, at) in group.into_iter().zip(offsets) {
                                let _ = a.done.send(Ok(at));
                            }
                        }
                        Err(e) => {
                            for a in group {
                                let _ = a.done.send(Err(io::Error::new(e.kind(), e.to_string())));
                            }
                        }
                    }
                }
            })
            .map_err(|e| journal_error(dir, e))?;
        Ok(Self {
            dir: dir.to_owned(),
            appends,
            durable,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends a record and returns its offset once it is on disk.
    pub async fn append(&self, payload: Vec<u8>) -> Result<u64, IngestError> {
        let (done, wait) = oneshot::channel();
        self.appends
            .send(Append { payload, done })
            .await
            .map_err(|_| journal_error(&self.dir, "the journal writer has stopped"))?;
        wait.await
            .map_err(|_| journal_error(&self.dir, "the journal writer has stopped"))?
            .map_err(|e| journal_error(&self.dir, e))
    }

    /// The offset up to which records are on disk; changes after each flush.
    pub fn durable(&self) -> watch::Receiver<u64> {
        self.durable.clone()
    }
}

/// Reads up to `max_records` whole records from `from` up to `until` (an offset the writer has
/// made durable). Returns the records with their offsets and the offset after the last one.
pub fn read(
    dir: &Path,
    from: u64,
    until: u64,
    max_records: usize,
) -> Result<(Records, u64), IngestError> {
    let starts = segments(dir).map_err(|e| journal_error(dir, e))?;
    let mut out = Vec::new();
    let mut at = from;
    for (i, start) in starts.iter().enumerate() {
        let next = starts.get(i + 1).copied().unwrap_or(u64::MAX);
        if next <= at || *start > at || at >= until || out.len() >= max_records {
            continue;
        }
        let mut file =
            File::open(dir.join(segment_name(*start))).map_err(|e| journal_error(dir, e))?;
        file.seek(SeekFrom::Start(at - start))
            .map_err(|e| journal_error(dir, e))?;
        let (records, end) = read_records(&mut file, at, max_records - out.len(), until)
            .map_err(|e| journal_error(dir, e))?;
        out.extend(records);
        at = end;
    }
    Ok((out, at))
}

/// The offset after the last byte on disk: what the journal holds, landed or not. A torn record
/// at the end counts until the journal is next opened and cuts it off.
pub fn end(dir: &Path) -> Result<u64, IngestError> {
    let starts = segments(dir).map_err(|e| journal_error(dir, e))?;
    let Some(last) = starts.last() else {
        return Ok(0);
    };
    let len = fs::metadata(dir.join(segment_name(*last)))
        .map_err(|e| journal_error(dir, e))?
        .len();
    Ok(last + len)
}

/// Deletes the segments that lie wholly before `landed`; the last segment is always kept.
pub fn release(dir: &Path, landed: u64) -> Result<usize, IngestError> {
    let starts = segments(dir).map_err(|e| journal_error(dir, e))?;
    let mut removed = 0;
    for pair in starts.windows(2) {
        if pair[1] <= landed {
            fs::remove_file(dir.join(segment_name(pair[0]))).map_err(|e| journal_error(dir, e))?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn appends_are_read_back_in_order_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let mut handles = Vec::new();
        for i in 0..200u32 {
            let j = j.clone();
            handles.push(tokio::spawn(async move {
                j.append(format!("message {i}").into_bytes()).await.unwrap()
            }));
        }
        let mut offsets = Vec::new();
        for h in handles {
            offsets.push(h.await.unwrap());
        }
        let end = *j.durable().borrow();
        drop(j);
        let (records, after) = read(dir.path(), 0, end, usize::MAX).unwrap();
        assert_eq!(records.len(), 200);
        assert_eq!(after, end);
        offsets.sort_unstable();
        assert_eq!(records.iter().map(|r| r.0).collect::<Vec<_>>(), offsets);
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(*j.durable().borrow(), end, "reopening keeps every record");
        let (part, next) = read(dir.path(), records[10].0, end, 5).unwrap();
        assert_eq!(part.len(), 5);
        assert_eq!(next, records[15].0);
    }

    #[tokio::test]
    async fn a_torn_last_record_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        j.append(b"kept".to_vec()).await.unwrap();
        let end = *j.durable().borrow();
        drop(j);
        let path = dir.path().join(segment_name(0));
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, b'x']).unwrap();
        drop(f);
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(*j.durable().borrow(), end);
        assert_eq!(fs::metadata(&path).unwrap().len(), end);
        let at = j.append(b"next".to_vec()).await.unwrap();
        assert_eq!(at, end, "the next record takes the torn one's place");
        let (records, _) = read(dir.path(), 0, u64::MAX, 10).unwrap();
        assert_eq!(records.len(), 2);
    }

    #[test]
    fn segments_rotate_and_landed_ones_are_released() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::open(dir.path(), 1000).unwrap();
        let big = vec![7u8; 500];
        for _ in 0..5 {
            w.write(std::slice::from_ref(&big)).unwrap();
        }
        let starts = segments(dir.path()).unwrap();
        assert_eq!(starts.len(), 3, "{starts:?}");
        let (records, end) = read(dir.path(), 0, w.end, usize::MAX).unwrap();
        assert_eq!(records.len(), 5);
        assert_eq!(end, w.end);
        assert_eq!(release(dir.path(), starts[1]).unwrap(), 1);
        assert_eq!(release(dir.path(), w.end).unwrap(), 1);
        let left = segments(dir.path()).unwrap();
        assert_eq!(left, vec![starts[2]], "the active segment stays");
        let (records, _) = read(dir.path(), starts[2], w.end, usize::MAX).unwrap();
        assert_eq!(records.len(), 1);
    }
}
