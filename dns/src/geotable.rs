//! The geo table: where a client is, by the longest prefix that contains its address (its EDNS
//! Client Subnet, or the query's source address). Geoproximity answers ([`crate::route`]) measure
//! distances from the place it gives.
//!
//! The file (`--geo-table`, `[resolver] geo_table`) holds one entry a line:
//! `CIDR LATITUDE LONGITUDE [# comment]`, IPv4 or IPv6, in decimal degrees; blank lines and lines
//! starting with `#` are skipped. Bounds: [`MAX_FILE_BYTES`], [`MAX_ENTRIES`], [`MAX_LINE_BYTES`].
//! A file breaking any rule is refused whole, every bad line reported with the file's name and
//! its line number. Without a file the resolver uses [`GeoTable::lab`] ([`LAB_TABLE`]).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use geo::Coordinates;

use crate::prefix::{PrefixTable, address_bits, mask};

/// The largest geo table file read (8 MiB).
pub const MAX_FILE_BYTES: u64 = 8 << 20;
/// The most entries a table holds.
pub const MAX_ENTRIES: usize = 100_000;
/// The longest line, in bytes.
pub const MAX_LINE_BYTES: usize = 512;
/// How many bad lines an error message shows (all are kept in [`GeoTableError::Lines`]).
const SHOWN_ERRORS: usize = 50;

/// The built-in table of `wavelb resolver` and `wavelb lab` when no file is given: loopback and
/// 10.0.0.0/8 split among places near a few Wavelength cities, so tests and the lab can pick any
/// of them by source address or by EDNS Client Subnet.
pub const LAB_TABLE: &str = "\
# wavelb's built-in lab geo table: CIDR LATITUDE LONGITUDE
127.0.0.0/10     42.36  -71.06   # Boston
127.64.0.0/10    40.71  -74.01   # New York
127.128.0.0/10   38.90  -77.04   # Washington, DC
127.192.0.0/10   37.77 -122.42   # San Francisco
10.0.0.0/9       32.78  -96.80   # Dallas
10.128.0.0/9     36.17 -115.14   # Las Vegas
::1/128          42.36  -71.06   # Boston
";

/// Where a client is, and how much of its address decided it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Located {
    /// The place of the entry that matched.
    pub coordinates: Coordinates,
    /// The prefix length the location holds for (RFC 7871's SCOPE PREFIX-LENGTH): the matching
    /// entry's, or longer when more specific entries lie inside it, so that every address
    /// sharing this many leading bits with the client is placed by the same entry.
    pub scope: u8,
}

/// Client locations by longest prefix match.
#[derive(Debug, Clone, Default)]
pub struct GeoTable {
    entries: PrefixTable<Coordinates>,
}

/// One bad line of a geo table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The line number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub why: String,
}

/// Why a geo table was refused.
#[derive(Debug, thiserror::Error)]
pub enum GeoTableError {
    /// The file could not be read: missing, not a regular file (a FIFO, a device), or larger
    /// than [`MAX_FILE_BYTES`].
    #[error("the geo table: {0}; check --geo-table (or `[resolver] geo_table`)")]
    File(#[from] registry::file::FileError),
    /// Lines that break the format; nothing of the file is used.
    #[error(
        "the geo table {origin} is refused; fix these lines (each is `CIDR LATITUDE LONGITUDE [# comment]`):{}",
        show(origin, lines)
    )]
    Lines {
        /// The file's name.
        origin: String,
        /// Every bad line, in order.
        lines: Vec<LineError>,
    },
}

fn show(origin: &str, lines: &[LineError]) -> String {
    let mut out = String::new();
    for e in lines.iter().take(SHOWN_ERRORS) {
        out.push_str(&format!("\n  {origin}:{}: {}", e.line, e.why));
    }
    if lines.len() > SHOWN_ERRORS {
        out.push_str(&format!(
            "\n  … and {} more bad lines",
            lines.len() - SHOWN_ERRORS
        ));
    }
    out
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.why)
    }
}

impl GeoTable {
    /// The built-in lab table ([`LAB_TABLE`]).
    pub fn lab() -> Self {
        // LAB_TABLE is a constant that `the_lab_table_parses` checks; an empty table (every
        // client at an unknown place) is the harmless fallback should it ever not parse.
        Self::parse("the built-in lab geo table", LAB_TABLE).unwrap_or_default()
    }

    /// Reads and parses the table file at `path` (at most [`MAX_FILE_BYTES`]).
    ///
    /// # Errors
    ///
    /// [`GeoTableError::File`], or [`GeoTableError::Lines`] with
    /// every bad line.
    pub fn load(path: &Path) -> Result<Self, GeoTableError> {
        let name = registry::file::shown(path);
        let bytes = registry::file::read(path, MAX_FILE_BYTES)?;
        let text = String::from_utf8(bytes).map_err(|e| GeoTableError::Lines {
            origin: name.clone(),
            lines: vec![LineError {
                line: 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count(),
                why: "not UTF-8 text".into(),
            }],
        })?;
        Self::parse(&name, &text)
    }

    /// Parses a table's text; `origin` names it in errors.
    ///
    /// # Errors
    ///
    /// [`GeoTableError::Lines`] with every line that breaks the format: not three fields, a bad
    /// CIDR (or bits set beyond its prefix), coordinates out of range, a CIDR given twice, a line
    /// over [`MAX_LINE_BYTES`], entries past [`MAX_ENTRIES`].
    pub fn parse(origin: &str, text: &str) -> Result<Self, GeoTableError> {
        let mut table = Self::default();
        let mut errors = Vec::new();
        let mut seen: HashMap<(bool, u8, u128), usize> = HashMap::new();
        let mut entries = 0usize;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            if raw.len() > MAX_LINE_BYTES {
                errors.push(LineError {
                    line,
                    why: format!("{} bytes long; the limit is {MAX_LINE_BYTES}", raw.len()),
                });
                continue;
            }
            let content = raw.split_once('#').map_or(raw, |(c, _)| c).trim();
            if content.is_empty() {
                continue;
            }
            match parse_line(content) {
                Ok((addr, len, coordinates)) => {
                    entries += 1;
                    if entries > MAX_ENTRIES {
                        errors.push(LineError {
                            line,
                            why: format!("more than {MAX_ENTRIES} entries; split the table"),
                        });
                        break;
                    }
                    let (bits, width) = address_bits(addr);
                    let key = (width == 32, len, bits);
                    if let Some(first) = seen.get(&key) {
                        errors.push(LineError {
                            line,
                            why: format!("{addr}/{len} is already given on line {first}"),
                        });
                        continue;
                    }
                    seen.insert(key, line);
                    table.entries.insert(addr, len, coordinates);
                }
                Err(why) => errors.push(LineError {
                    line,
                    why: why.to_string(),
                }),
            }
        }
        if !errors.is_empty() {
            return Err(GeoTableError::Lines {
                origin: origin.to_owned(),
                lines: errors,
            });
        }
        table.entries.nest();
        Ok(table)
    }

    /// Where `addr` is: the longest prefix that contains it, or `None` when none does. An
    /// IPv4-mapped IPv6 address is placed as its IPv4 address; its scope counts the 96 bits of
    /// the mapping prefix too.
    pub fn lookup(&self, addr: IpAddr) -> Option<Located> {
        self.entries.lookup(addr, None).map(|hit| Located {
            coordinates: *hit.value,
            scope: hit.scope,
        })
    }

    /// How many entries the table holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True for a table without entries (every client's place is unknown).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a table entry does not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum EntryError {
    /// Not three fields.
    #[error("expected 3 fields (CIDR LATITUDE LONGITUDE), found {0}")]
    Fields(usize),
    /// No `/`.
    #[error("{0:?} is not a CIDR: expected ADDRESS/PREFIX-LENGTH")]
    NotACidr(String),
    /// Not an address.
    #[error("{0:?} is not an IPv4 or IPv6 address")]
    NotAnAddress(String),
    /// A prefix length beyond the family's width (or not a number).
    #[error("prefix length {text:?} is not a number from 0 to {width}")]
    PrefixLength { text: String, width: u8 },
    /// Host bits set.
    #[error("{0} has bits set beyond its prefix length; write its network address")]
    HostBits(String),
    /// A latitude or longitude that is not a finite number.
    #[error("{axis} {text:?} is not a decimal number of degrees")]
    Degrees { axis: &'static str, text: String },
    /// Coordinates out of range.
    #[error(transparent)]
    Coordinates(#[from] geo::GeoError),
}

/// One entry: `CIDR LATITUDE LONGITUDE`, comment and blanks already removed.
fn parse_line(content: &str) -> Result<(IpAddr, u8, Coordinates), EntryError> {
    let fields: Vec<&str> = content.split_whitespace().collect();
    let [cidr, lat, lon] = fields.as_slice() else {
        return Err(EntryError::Fields(fields.len()));
    };
    let (addr, len) = cidr
        .split_once('/')
        .ok_or_else(|| EntryError::NotACidr((*cidr).to_owned()))?;
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| EntryError::NotAnAddress(addr.to_owned()))?;
    let (bits, width) = address_bits(addr);
    let len: u8 =
        len.parse()
            .ok()
            .filter(|l| *l <= width)
            .ok_or_else(|| EntryError::PrefixLength {
                text: len.to_owned(),
                width,
            })?;
    if mask(bits, width, len) != bits {
        return Err(EntryError::HostBits((*cidr).to_owned()));
    }
    let degrees = |text: &str, axis: &'static str| {
        text.parse::<f64>()
            .ok()
            .filter(|d| d.is_finite())
            .ok_or_else(|| EntryError::Degrees {
                axis,
                text: text.to_owned(),
            })
    };
    let (lat, lon) = (degrees(lat, "latitude")?, degrees(lon, "longitude")?);
    let coordinates = Coordinates::new(lat, lon)?;
    Ok((addr, len, coordinates))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(table: &GeoTable, addr: &str) -> Option<(f64, f64, u8)> {
        table
            .lookup(addr.parse().unwrap())
            .map(|l| (l.coordinates.latitude(), l.coordinates.longitude(), l.scope))
    }

    #[test]
    fn the_lab_table_parses() {
        let t = GeoTable::parse("lab", LAB_TABLE).unwrap();
        assert_eq!(t.len(), 7);
        assert_eq!(at(&t, "127.0.0.1"), Some((42.36, -71.06, 10)));
        assert_eq!(at(&t, "127.64.0.9"), Some((40.71, -74.01, 10)));
        assert_eq!(at(&t, "::1"), Some((42.36, -71.06, 128)));
        assert_eq!(at(&t, "::ffff:127.64.1.1"), Some((40.71, -74.01, 106)));
        assert_eq!(at(&t, "192.0.2.1"), None);
        assert_eq!(GeoTable::lab().len(), 7);
    }

    #[test]
    fn the_longest_prefix_wins_and_nesting_raises_the_scope() {
        let t = GeoTable::parse(
            "t",
            "0.0.0.0/0 1 1\n10.0.0.0/8 2 2\n10.1.0.0/16 3 3 # inner\n10.1.2.0/24 4 4\n\
             2001:db8::/32 5 5\n2001:db8:1::/48 6 6\n",
        )
        .unwrap();
        assert_eq!(at(&t, "10.1.2.3"), Some((4.0, 4.0, 24)));
        assert_eq!(
            at(&t, "10.1.3.3"),
            Some((3.0, 3.0, 24)),
            "a /24 lies inside"
        );
        assert_eq!(at(&t, "10.2.0.1"), Some((2.0, 2.0, 24)));
        assert_eq!(at(&t, "11.0.0.1"), Some((1.0, 1.0, 24)));
        assert_eq!(at(&t, "2001:db8:1::1"), Some((6.0, 6.0, 48)));
        assert_eq!(at(&t, "2001:db8:2::1"), Some((5.0, 5.0, 48)));
        assert_eq!(at(&t, "2001:db9::1"), None, "no IPv6 default route");
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let text = "# comment\n\n10.0.0.0/8 1 2\n10.0.0.1/8 1 2\nnot-a-cidr 1 2\n\
                    10.0.0.0/33 1 2\n10.0.0.0/8 1 2\n10.2.0.0/16 north 2\n10.3.0.0/16 91 2\n\
                    10.4.0.0/16 1\n::/129 0 0\n";
        let Err(GeoTableError::Lines { origin, lines }) = GeoTable::parse("geo.txt", text) else {
            panic!("refused");
        };
        assert_eq!(origin, "geo.txt");
        let numbers: Vec<usize> = lines.iter().map(|l| l.line).collect();
        assert_eq!(numbers, [4, 5, 6, 7, 8, 9, 10, 11], "{lines:?}");
        assert!(lines[0].why.contains("beyond its prefix"), "{lines:?}");
        assert!(
            lines[3].why.contains("already given on line 3"),
            "{lines:?}"
        );
        let message = GeoTable::parse("geo.txt", text).unwrap_err().to_string();
        assert!(message.contains("geo.txt:9: latitude 91"), "{message}");
    }

    #[test]
    fn size_bounds_are_enforced() {
        let long = format!("10.0.0.0/8 1 1 # {}", "x".repeat(MAX_LINE_BYTES));
        let Err(GeoTableError::Lines { lines, .. }) = GeoTable::parse("t", &long) else {
            panic!("a long line is refused");
        };
        assert!(lines[0].why.contains("bytes long"));
        let many: String = (0..=MAX_ENTRIES)
            .map(|i| format!("fd00::{:x}:{:x}:0/112 1 1\n", i >> 16, i & 0xffff))
            .collect();
        let Err(GeoTableError::Lines { lines, .. }) = GeoTable::parse("t", &many) else {
            panic!("too many entries are refused");
        };
        assert_eq!(lines.len(), 1, "{:?}", &lines[..lines.len().min(3)]);
        assert_eq!(lines[0].line, MAX_ENTRIES + 1);
        assert!(lines[0].why.contains("more than"), "{lines:?}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.txt");
        std::fs::write(
            &path,
            vec![b'#'; usize::try_from(MAX_FILE_BYTES).unwrap() + 1],
        )
        .unwrap();
        assert!(matches!(
            GeoTable::load(&path),
            Err(GeoTableError::File(
                registry::file::FileError::TooLarge { .. }
            ))
        ));
        let missing = GeoTable::load(&dir.path().join("none")).unwrap_err();
        assert!(missing.to_string().contains("none"), "{missing}");
        let device = GeoTable::load(Path::new("/dev/zero")).unwrap_err();
        assert!(
            device.to_string().contains("not a regular file"),
            "{device}"
        );
    }
}
