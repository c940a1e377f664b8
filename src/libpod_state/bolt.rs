//! Read-only lookups in a bbolt database file held in memory: what libpod 4.x keeps its
//! state in (`<static dir>/bolt_state.db`). No maintained Rust crate reads bbolt.
//!
//! Only what a key lookup needs: the two meta pages (the valid one with the higher
//! transaction id is current), branch and leaf pages, and nested buckets, inline or not.
//! Layout from bbolt's page.go, meta.go and bucket.go: a page is a 16-byte header (id
//! u64, flags u16, count u16, overflow u32) and `count` 16-byte elements, spanning
//! `1 + overflow` pages; a branch element is (pos u32, ksize u32, pgid u64), a leaf
//! element (flags u32, pos u32, ksize u32, vsize u32), `pos` counted from the element
//! itself; a bucket value is (root u64, sequence u64), followed by the bucket's own leaf
//! page when root is 0 (inline).
//!
//! The file is root's, but a torn write or a corrupt file must not mislead bulwark nor
//! make it spin, panic or allocate: every offset is computed with checked arithmetic and
//! read within its page's extent, a page is followed only if it is among the meta's
//! allocated pages, in the file, and names itself in its header, and a descent through
//! branch pages visits each page once, at most [`MAX_DEPTH`] deep.

const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;
const HEADER: usize = 16;
const ELEMENT: usize = 16;
const BRANCH: u16 = 0x01;
const LEAF: u16 = 0x02;
const BUCKET_LEAF: u32 = 0x01;
/// Offset of the checksum in the meta struct; it covers the bytes before it.
const META_CHECKSUM: usize = 56;
/// Pages 0 and 1 are the metas, never a tree page.
const FIRST_TREE_PAGE: u64 = 2;
/// Deeper than any B+tree a state database reaches.
const MAX_DEPTH: usize = 64;
/// bbolt takes the OS page size; Linux's are 4, 16 or 64 KiB. Where the first meta is
/// torn its page size is unknown, and bbolt looks for the second at the OS page size
/// (db.go, mmap); bulwark tries each of these.
const PAGE_SIZES: [usize; 3] = [4096, 16384, 65536];
const MIN_PAGE_SIZE: usize = 512;
const MAX_PAGE_SIZE: usize = 65536;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BoltError {
    #[error("no valid meta page (not a bbolt version 2 file, or torn)")]
    NoMeta,
    #[error("page {0} is malformed")]
    BadPage(u64),
    #[error("the tree is deeper than {MAX_DEPTH} pages")]
    TooDeep,
    #[error("{len} bytes hold fewer than bbolt's two meta pages of {page_size} bytes")]
    Truncated { len: usize, page_size: usize },
    #[error("page {page} is not among the database's {high_water} allocated pages")]
    OutOfRange { page: u64, high_water: u64 },
    #[error("page {page} and its {overflow} overflow pages run past the end of the file")]
    PastEnd { page: u64, overflow: u32 },
    #[error("page {0} is reached again below itself")]
    Cycle(u64),
}

pub struct Db {
    bytes: Vec<u8>,
    page_size: usize,
    root: u64,
    /// The meta's pgid: pages at or above it are not (yet, or any more) the database's.
    high_water: u64,
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

fn range(bytes: &[u8], at: usize, len: usize) -> Option<&[u8]> {
    bytes.get(at..at.checked_add(len)?)
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(range(bytes, at, 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(range(bytes, at, 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(range(bytes, at, 8)?.try_into().ok()?))
}

/// A u32 offset or length from the file as usize.
fn size_at(bytes: &[u8], at: usize) -> Option<usize> {
    usize::try_from(u32_at(bytes, at)?).ok()
}

/// FNV-1a, 64 bit: bbolt's meta checksum.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A valid meta page's fields.
#[derive(Clone, Copy)]
struct Meta {
    txid: u64,
    root: u64,
    high_water: u64,
    page_size: usize,
}

/// The meta at `offset`, if it is valid: magic, version and checksum hold, its page
/// size is one bbolt could have chosen, and its root is among its allocated pages.
fn meta(bytes: &[u8], offset: usize) -> Option<Meta> {
    let meta = range(bytes, offset.checked_add(HEADER)?, META_CHECKSUM + 8)?;
    let valid = u32_at(meta, 0)? == MAGIC
        && u32_at(meta, 4)? == VERSION
        && u64_at(meta, META_CHECKSUM)? == fnv1a64(&meta[..META_CHECKSUM]);
    let meta = Meta {
        page_size: size_at(meta, 8)?,
        root: u64_at(meta, 16)?,
        high_water: u64_at(meta, 40)?,
        txid: u64_at(meta, 48)?,
    };
    (valid
        && meta.page_size.is_power_of_two()
        && (MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&meta.page_size)
        && (FIRST_TREE_PAGE..meta.high_water).contains(&meta.root))
    .then_some(meta)
}

impl Db {
    pub fn parse(bytes: Vec<u8>) -> Result<Db, BoltError> {
        let first = meta(&bytes, 0);
        let second = match first {
            Some(first) => meta(&bytes, first.page_size),
            None => PAGE_SIZES.into_iter().find_map(|size| meta(&bytes, size)),
        };
        let current = [first, second]
            .into_iter()
            .flatten()
            .max_by_key(|meta| meta.txid)
            .ok_or(BoltError::NoMeta)?;
        // bbolt's own check (db.go, mmap): a file holds at least both meta pages.
        if bytes.len() / 2 < current.page_size {
            return Err(BoltError::Truncated {
                len: bytes.len(),
                page_size: current.page_size,
            });
        }
        Ok(Db {
            bytes,
            page_size: current.page_size,
            root: current.root,
            high_water: current.high_water,
        })
    }

    pub fn root(&self) -> Bucket<'_> {
        Bucket {
            db: self,
            root: self.root,
            inline: None,
        }
    }

    /// Page `id` and its overflow pages, if the database holds them and the header
    /// names `id`.
    fn page(&self, id: u64) -> Result<&[u8], BoltError> {
        if !(FIRST_TREE_PAGE..self.high_water).contains(&id) {
            return Err(BoltError::OutOfRange {
                page: id,
                high_water: self.high_water,
            });
        }
        let at = usize::try_from(id)
            .ok()
            .and_then(|i| i.checked_mul(self.page_size));
        let header =
            at.and_then(|at| range(&self.bytes, at, HEADER))
                .ok_or(BoltError::PastEnd {
                    page: id,
                    overflow: 0,
                })?;
        let overflow = u32_at(header, 12).ok_or(BoltError::BadPage(id))?;
        let past_end = BoltError::PastEnd { page: id, overflow };
        if u64::from(overflow)
            .checked_add(id)
            .is_none_or(|last| last >= self.high_water)
        {
            return Err(past_end);
        }
        let len = usize::try_from(overflow)
            .ok()
            .and_then(|o| o.checked_add(1))
            .and_then(|pages| pages.checked_mul(self.page_size));
        let page = at
            .zip(len)
            .and_then(|(at, len)| range(&self.bytes, at, len))
            .ok_or(past_end)?;
        if u64_at(page, 0) != Some(id) {
            return Err(BoltError::BadPage(id));
        }
        Ok(page)
    }
}

impl<'a> Bucket<'a> {
    /// The entry under `key`, if there is one.
    pub fn get(&self, key: &[u8]) -> Result<Option<Entry<'a>>, BoltError> {
        let (mut page, mut id) = match self.inline {
            Some(page) => (page, 0),
            None => (self.db.page(self.root)?, self.root),
        };
        let mut visited = Vec::with_capacity(MAX_DEPTH);
        for _ in 0..MAX_DEPTH {
            let bad = || BoltError::BadPage(id);
            let flags = u16_at(page, 8).ok_or_else(bad)?;
            let count = usize::from(u16_at(page, 10).ok_or_else(bad)?);
            // An inline bucket's page is a leaf (bucket.go, inlineable): a branch in one
            // would lead out of its value.
            if flags & BRANCH != 0 && self.inline.is_none() {
                visited.push(id);
                id = child(page, count, key).ok_or_else(bad)?;
                if visited.contains(&id) {
                    return Err(BoltError::Cycle(id));
                }
                page = self.db.page(id)?;
                continue;
            }
            if flags & LEAF == 0 {
                return Err(bad());
            }
            return leaf(self.db, page, count, key).ok_or_else(bad);
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

/// The element at index `i` of `page` (offset checked), and where its `pos` leads.
fn element(page: &[u8], i: usize, pos_at: usize) -> Option<(usize, usize)> {
    let element = i.checked_mul(ELEMENT)?.checked_add(HEADER)?;
    let start = element.checked_add(size_at(page, element.checked_add(pos_at)?)?)?;
    Some((element, start))
}

/// The child of branch `page` that leads to `key`: that of the last element whose key
/// is not above `key` (the first when all are above). None when the page is malformed.
fn child(page: &[u8], count: usize, key: &[u8]) -> Option<u64> {
    let mut next = None;
    for i in 0..count {
        // (pos, ksize, pgid): pos at 0, ksize at 4.
        let (element, start) = element(page, i, 0)?;
        let found = range(page, start, size_at(page, element + 4)?)?;
        if found > key && next.is_some() {
            break;
        }
        next = Some(u64_at(page, element + 8)?);
    }
    next
}

/// The entry under `key` in leaf `page`: Some(None) when there is none, None when the
/// page is malformed.
fn leaf<'a>(db: &'a Db, page: &'a [u8], count: usize, key: &[u8]) -> Option<Option<Entry<'a>>> {
    for i in 0..count {
        // (flags, pos, ksize, vsize): pos at 4, ksize at 8, the value after the key.
        let (element, start) = element(page, i, 4)?;
        let ksize = size_at(page, element + 8)?;
        if range(page, start, ksize)? != key {
            continue;
        }
        let value = range(
            page,
            start.checked_add(ksize)?,
            size_at(page, element + 12)?,
        )?;
        if u32_at(page, element)? & BUCKET_LEAF == 0 {
            return Some(Some(Entry::Value(value)));
        }
        let root = u64_at(value, 0)?;
        let inline = match root {
            0 => Some(value.get(HEADER..).filter(|p| p.len() >= HEADER)?),
            _ => None,
        };
        return Some(Some(Entry::Bucket(Bucket { db, root, inline })));
    }
    Some(None)
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

    /// A branch page leading to `children`: (first key, page id), keys sorted.
    fn branch(id: u64, children: &[(&[u8], u64)]) -> Vec<u8> {
        let mut page = Vec::new();
        page.extend_from_slice(&id.to_le_bytes());
        page.extend_from_slice(&BRANCH.to_le_bytes());
        page.extend_from_slice(&(children.len() as u16).to_le_bytes());
        page.extend_from_slice(&0u32.to_le_bytes());
        let mut keys = Vec::new();
        for (i, (key, child)) in children.iter().enumerate() {
            let pos = (children.len() - i) * ELEMENT + keys.len();
            page.extend_from_slice(&(pos as u32).to_le_bytes());
            page.extend_from_slice(&(key.len() as u32).to_le_bytes());
            page.extend_from_slice(&child.to_le_bytes());
            keys.extend_from_slice(key);
        }
        page.extend_from_slice(&keys);
        page
    }

    /// `pages` laid out at their ids in a file of `len` pages.
    fn file(len: usize, pages: &[(usize, Vec<u8>)]) -> Vec<u8> {
        let mut file = vec![0; len * PAGE];
        for (id, page) in pages {
            file[id * PAGE..id * PAGE + page.len()].copy_from_slice(page);
        }
        file
    }

    /// An inline bucket's value: root 0, sequence 0, its page.
    fn inline(entries: &[(&[u8], Vec<u8>, bool)]) -> Vec<u8> {
        let mut value = vec![0; 16];
        value.extend(leaf(0, entries));
        value
    }

    fn meta(id: u64, txid: u64, root: u64) -> Vec<u8> {
        meta_of(id, txid, root, PAGE as u32, 4)
    }

    /// A meta page naming `page_size` and `high_water` allocated pages.
    fn meta_of(id: u64, txid: u64, root: u64, page_size: u32, high_water: u64) -> Vec<u8> {
        let mut page = Vec::new();
        page.extend_from_slice(&id.to_le_bytes());
        page.extend_from_slice(&0x04u16.to_le_bytes());
        page.extend_from_slice(&[0; 6]);
        let mut meta = Vec::new();
        for word in [MAGIC, VERSION, page_size, 0] {
            meta.extend_from_slice(&word.to_le_bytes());
        }
        for word in [root, 0, 2, high_water, txid] {
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

    #[test]
    fn a_branch_leading_back_to_itself_is_a_cycle() {
        let file = file(
            4,
            &[
                (0, meta(0, 1, 3)),
                (1, meta(1, 2, 3)),
                (3, branch(3, &[(b"a", 2), (b"m", 3)])),
            ],
        );
        let db = Db::parse(file).unwrap();
        assert_eq!(db.root().get(b"z").err(), Some(BoltError::Cycle(3)));
    }

    #[test]
    fn pages_outside_the_allocated_ones_are_refused() {
        // Page 4 is in the file (bbolt preallocates) but past the high-water mark of 4
        // pages: whatever it holds is not part of the database.
        let stale = leaf(4, &[(b"ctr", b"x".to_vec(), false)]);
        let db = Db::parse(file(
            5,
            &[
                (0, meta(0, 1, 3)),
                (1, meta(1, 2, 3)),
                (3, branch(3, &[(b"a", 4)])),
                (4, stale.clone()),
            ],
        ))
        .unwrap();
        assert_eq!(
            db.root().get(b"ctr").err(),
            Some(BoltError::OutOfRange {
                page: 4,
                high_water: 4
            })
        );
        // The meta pages themselves are no tree page, nor is one beyond u64 offsets.
        for child in [0, 1, u64::MAX] {
            let db = Db::parse(file(
                4,
                &[
                    (0, meta(0, 1, 3)),
                    (1, meta(1, 2, 3)),
                    (3, branch(3, &[(b"a", child)])),
                ],
            ))
            .unwrap();
            assert!(db.root().get(b"ctr").is_err(), "child {child}");
        }
        // A page whose header names another id is not the page asked for.
        let db = Db::parse(file(
            4,
            &[(0, meta(0, 1, 3)), (1, meta(1, 2, 3)), (3, leaf(2, &[]))],
        ))
        .unwrap();
        assert_eq!(db.root().get(b"ctr").err(), Some(BoltError::BadPage(3)));
        // Nor is a meta whose root is past its own high-water mark current.
        let file = file(
            5,
            &[
                (0, meta(0, 1, 2)),
                (1, meta_of(1, 2, 4, PAGE as u32, 4)),
                (2, leaf(2, &[(b"old", b"x".to_vec(), false)])),
                (4, leaf(4, &[(b"ctr", b"x".to_vec(), false)])),
            ],
        );
        let db = Db::parse(file).unwrap();
        assert!(db.root().value(b"old").unwrap().is_some());
    }

    #[test]
    fn a_page_is_read_within_its_own_extent() {
        // The root leaf claims 2^32 - 1 overflow pages: far past the end of the file.
        let mut huge = db();
        huge[3 * PAGE + 12..3 * PAGE + 16].copy_from_slice(&u32::MAX.to_le_bytes());
        let db = Db::parse(huge).unwrap();
        assert_eq!(
            db.root().get(b"ctr").err(),
            Some(BoltError::PastEnd {
                page: 3,
                overflow: u32::MAX
            })
        );
        // A key whose offset leads out of its one-page leaf into the next page.
        let mut page = leaf(2, &[(b"k", b"v".to_vec(), false)]);
        page[HEADER + 4..HEADER + 8].copy_from_slice(&(PAGE as u32).to_le_bytes());
        let mut file = file(4, &[(0, meta(0, 1, 2)), (1, meta(1, 1, 2)), (2, page)]);
        file[2 * PAGE + HEADER + PAGE..][..2].copy_from_slice(b"kv");
        let db = Db::parse(file).unwrap();
        assert_eq!(db.root().get(b"k").err(), Some(BoltError::BadPage(2)));
    }

    #[test]
    fn a_truncated_file_is_an_error() {
        // Cut inside the root leaf, after the bytes a lookup of ctr/c1/config reads.
        let mut cut = db();
        cut.truncate(3 * PAGE + 256);
        let db = Db::parse(cut).unwrap();
        assert_eq!(
            db.root().get(b"ctr").err(),
            Some(BoltError::PastEnd {
                page: 3,
                overflow: 0
            })
        );
        // bbolt refuses a file without both meta pages, though the first is valid.
        let mut one = self::db();
        one.truncate(PAGE);
        assert_eq!(
            Db::parse(one).err(),
            Some(BoltError::Truncated {
                len: PAGE,
                page_size: PAGE
            })
        );
    }

    #[test]
    fn a_meta_with_an_impossible_page_size_is_invalid() {
        // The first meta is newer, and its checksum holds, but its page size is no power
        // of two: the second, found at 4 KiB as bbolt would, is current.
        let file = file(
            4,
            &[
                (0, meta_of(0, 5, 2, 1000, 4)),
                (1, meta(1, 1, 3)),
                (3, leaf(3, &[(b"ctr", b"x".to_vec(), false)])),
            ],
        );
        let db = Db::parse(file).unwrap();
        assert_eq!(db.root().value(b"ctr").unwrap(), Some(&b"x"[..]));
    }
}
