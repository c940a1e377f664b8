//! Read-only lookups in a bbolt database file held in memory: what libpod 4.x keeps its
//! state in (`<static dir>/bolt_state.db`).
//!
//! Only what a key lookup needs: the two meta pages (the valid one with the higher
//! transaction id is current), branch and leaf pages, and nested buckets, inline or not.
//! Layout from bbolt's page.go and bucket.go: a page is a 16-byte header (id u64, flags
//! u16, count u16, overflow u32) and `count` 16-byte elements; a branch element is
//! (pos u32, ksize u32, pgid u64), a leaf element (flags u32, pos u32, ksize u32, vsize
//! u32), `pos` counted from the element itself; a bucket value is (root u64, sequence
//! u64), followed by the bucket's own page when root is 0 (inline). Every offset is
//! bounds-checked: a torn or hostile file is an error, never a panic.

const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;
const HEADER: usize = 16;
const ELEMENT: usize = 16;
const BRANCH: u16 = 0x01;
const LEAF: u16 = 0x02;
const BUCKET_LEAF: u32 = 0x01;
/// Offset of the checksum in the meta struct; it covers the bytes before it.
const META_CHECKSUM: usize = 56;
/// Deeper than any B+tree a state database reaches; stops a cycle of pages.
const MAX_DEPTH: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BoltError {
    #[error("no valid meta page (not a bbolt version 2 file, or torn)")]
    NoMeta,
    #[error("page {0} is out of the file or malformed")]
    BadPage(u64),
    #[error("the tree is deeper than {MAX_DEPTH} pages")]
    TooDeep,
}

pub struct Db {
    bytes: Vec<u8>,
    page_size: usize,
    root: u64,
}

/// A value found under a key.
pub enum Entry<'a> {
    Bucket(Bucket<'a>),
    Value(&'a [u8]),
}

/// A bucket: its root page, or its inline page.
pub struct Bucket<'a> {
    db: &'a Db,
    root: u64,
    inline: Option<&'a [u8]>,
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// FNV-1a, 64 bit: bbolt's meta checksum.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// (txid, root bucket page, page size) of the meta at `offset`, if it is valid.
fn meta(bytes: &[u8], offset: usize) -> Option<(u64, u64, usize)> {
    let meta = bytes.get(offset + HEADER..offset + HEADER + META_CHECKSUM + 8)?;
    let valid = u32_at(meta, 0)? == MAGIC
        && u32_at(meta, 4)? == VERSION
        && u64_at(meta, META_CHECKSUM)? == fnv1a64(&meta[..META_CHECKSUM]);
    let page_size = usize::try_from(u32_at(meta, 8)?).ok()?;
    (valid && page_size >= 512).then_some((u64_at(meta, 48)?, u64_at(meta, 16)?, page_size))
}

impl Db {
    pub fn parse(bytes: Vec<u8>) -> Result<Db, BoltError> {
        let first = meta(&bytes, 0);
        let second = first.and_then(|(_, _, page_size)| meta(&bytes, page_size));
        let (_, root, page_size) = [first, second]
            .into_iter()
            .flatten()
            .max_by_key(|(txid, _, _)| *txid)
            .ok_or(BoltError::NoMeta)?;
        Ok(Db {
            bytes,
            page_size,
            root,
        })
    }

    pub fn root(&self) -> Bucket<'_> {
        Bucket {
            db: self,
            root: self.root,
            inline: None,
        }
    }

    fn page(&self, id: u64) -> Result<&[u8], BoltError> {
        usize::try_from(id)
            .ok()
            .and_then(|i| i.checked_mul(self.page_size))
            .and_then(|at| self.bytes.get(at..))
            .filter(|page| page.len() >= HEADER)
            .ok_or(BoltError::BadPage(id))
    }
}

impl<'a> Bucket<'a> {
    /// The entry under `key`, if there is one.
    pub fn get(&self, key: &[u8]) -> Result<Option<Entry<'a>>, BoltError> {
        let (mut page, mut id) = match self.inline {
            Some(page) => (page, 0),
            None => (self.db.page(self.root)?, self.root),
        };
        for _ in 0..MAX_DEPTH {
            let bad = || BoltError::BadPage(id);
            let flags = u16_at(page, 8).ok_or_else(bad)?;
            let count = usize::from(u16_at(page, 10).ok_or_else(bad)?);
            if flags & BRANCH != 0 {
                // (pos, ksize, pgid): pos at 0, ksize at 4. The last element whose key
                // is not above `key` leads to it (the first when all are above).
                let mut next = None;
                for i in 0..count {
                    let element = HEADER + i * ELEMENT;
                    let pos = u32_at(page, element).ok_or_else(bad)? as usize;
                    let ksize = u32_at(page, element + 4).ok_or_else(bad)? as usize;
                    let start = element + pos;
                    let found = page.get(start..start + ksize).ok_or_else(bad)?;
                    if found > key && next.is_some() {
                        break;
                    }
                    next = Some(u64_at(page, element + 8).ok_or_else(bad)?);
                }
                id = next.ok_or_else(bad)?;
                page = self.db.page(id)?;
                continue;
            }
            if flags & LEAF == 0 {
                return Err(bad());
            }
            // (flags, pos, ksize, vsize): pos at 4, ksize at 8, value after the key.
            for i in 0..count {
                let element = HEADER + i * ELEMENT;
                let pos = u32_at(page, element + 4).ok_or_else(bad)? as usize;
                let ksize = u32_at(page, element + 8).ok_or_else(bad)? as usize;
                let start = element + pos;
                let found = page.get(start..start + ksize).ok_or_else(bad)?;
                let end = start + ksize;
                if found != key {
                    continue;
                }
                let vsize = u32_at(page, element + 12).ok_or_else(bad)? as usize;
                let value = page.get(end..end + vsize).ok_or_else(bad)?;
                if u32_at(page, element).ok_or_else(bad)? & BUCKET_LEAF == 0 {
                    return Ok(Some(Entry::Value(value)));
                }
                let root = u64_at(value, 0).ok_or_else(bad)?;
                let inline = (root == 0)
                    .then(|| value.get(HEADER..).filter(|p| p.len() >= HEADER))
                    .map(|page| page.ok_or_else(bad))
                    .transpose()?;
                return Ok(Some(Entry::Bucket(Bucket {
                    db: self.db,
                    root,
                    inline,
                })));
            }
            return Ok(None);
        }
        Err(BoltError::TooDeep)
    }

    /// The bucket under `key`, if there is one (a plain value there is none).
    pub fn bucket(&self, key: &[u8]) -> Result<Option<Bucket<'a>>, BoltError> {
        Ok(match self.get(key)? {
            Some(Entry::Bucket(bucket)) => Some(bucket),
            _ => None,
        })
    }

    /// The plain value under `key`, if there is one.
    pub fn value(&self, key: &[u8]) -> Result<Option<&'a [u8]>, BoltError> {
        Ok(match self.get(key)? {
            Some(Entry::Value(value)) => Some(value),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 4096;

    /// A leaf page (or an inline bucket's page) holding `entries`: (key, value, is a
    /// bucket), keys sorted.
    fn leaf(id: u64, entries: &[(&[u8], Vec<u8>, bool)]) -> Vec<u8> {
        let mut page = Vec::new();
        page.extend_from_slice(&id.to_le_bytes());
        page.extend_from_slice(&LEAF.to_le_bytes());
        page.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        page.extend_from_slice(&0u32.to_le_bytes());
        let mut data = Vec::new();
        for (i, (key, value, bucket)) in entries.iter().enumerate() {
            let pos = (entries.len() - i) * ELEMENT + data.len();
            page.extend_from_slice(&u32::from(*bucket).to_le_bytes());
            page.extend_from_slice(&(pos as u32).to_le_bytes());
            page.extend_from_slice(&(key.len() as u32).to_le_bytes());
            page.extend_from_slice(&(value.len() as u32).to_le_bytes());
            data.extend_from_slice(key);
            data.extend_from_slice(value);
        }
        page.extend_from_slice(&data);
        page
    }

    /// An inline bucket's value: root 0, sequence 0, its page.
    fn inline(entries: &[(&[u8], Vec<u8>, bool)]) -> Vec<u8> {
        let mut value = vec![0; 16];
        value.extend(leaf(0, entries));
        value
    }

    fn meta(id: u64, txid: u64, root: u64) -> Vec<u8> {
        let mut page = Vec::new();
        page.extend_from_slice(&id.to_le_bytes());
        page.extend_from_slice(&0x04u16.to_le_bytes());
        page.extend_from_slice(&[0; 6]);
        let mut meta = Vec::new();
        for word in [MAGIC, VERSION, PAGE as u32, 0] {
            meta.extend_from_slice(&word.to_le_bytes());
        }
        for word in [root, 0, 2, 4, txid] {
            meta.extend_from_slice(&word.to_le_bytes());
        }
        let checksum = fnv1a64(&meta);
        meta.extend_from_slice(&checksum.to_le_bytes());
        page.extend(meta);
        page
    }

    /// Two metas (the second, newer, names page 3), page 2 an old root, page 3 the
    /// root holding bucket `ctr` > `c1` > `config`.
    fn db() -> Vec<u8> {
        let c1 = inline(&[(b"config", br#"{"pause":true}"#.to_vec(), false)]);
        let ctr = inline(&[(b"c1", c1, true)]);
        let mut file = vec![0; 4 * PAGE];
        for (id, page) in [
            (0, meta(0, 1, 2)),
            (1, meta(1, 2, 3)),
            (2, leaf(2, &[(b"old", b"x".to_vec(), false)])),
            (
                3,
                leaf(3, &[(b"ctr", ctr, true), (b"pod", inline(&[]), true)]),
            ),
        ] {
            file[id * PAGE..id * PAGE + page.len()].copy_from_slice(&page);
        }
        file
    }

    #[test]
    fn nested_inline_buckets_are_found_from_the_newest_meta() {
        let db = Db::parse(db()).unwrap();
        let ctr = db.root().bucket(b"ctr").unwrap().unwrap();
        let c1 = ctr.bucket(b"c1").unwrap().unwrap();
        assert_eq!(
            c1.value(b"config").unwrap(),
            Some(&br#"{"pause":true}"#[..])
        );
        assert!(c1.value(b"state").unwrap().is_none());
        assert!(ctr.bucket(b"c2").unwrap().is_none());
        assert!(db.root().value(b"old").unwrap().is_none());
    }

    #[test]
    fn a_torn_meta_falls_back_and_garbage_is_an_error() {
        let mut file = db();
        // The newer meta's txid changes under its checksum: the older one is current.
        file[PAGE + HEADER + 48] ^= 0xff;
        let db = Db::parse(file).unwrap();
        assert!(db.root().value(b"old").unwrap().is_some());
        assert!(matches!(
            Db::parse(vec![0; 2 * PAGE]),
            Err(BoltError::NoMeta)
        ));
        let mut pointing_out = self::db();
        pointing_out[3 * PAGE + 8] = 0x01; // the root leaf claims to be a branch
        let db = Db::parse(pointing_out).unwrap();
        assert!(db.root().get(b"ctr").is_err());
    }
}
