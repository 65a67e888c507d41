//! Migration timestamps (`%Y%m%d%H%M%S`, UTC) as sqlx-cli writes them.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time, in whole seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Timestamp(secs)
    }

    /// Parses `%Y%m%d%H%M%S` (14 digits).
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let num = |r: std::ops::Range<usize>| text[r].parse::<i64>().ok();
        let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
        let (h, mi, s) = (num(8..10)?, num(10..12)?, num(12..14)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
            return None;
        }
        Some(Timestamp(
            days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s,
        ))
    }

    /// The timestamp one second later.
    pub fn next(self) -> Self {
        Timestamp(self.0 + 1)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(Timestamp(0).to_string(), "19700101000000");
        assert_eq!(Timestamp(951_782_400).to_string(), "20000229000000");
        assert_eq!(Timestamp(1_767_225_599).to_string(), "20251231235959");
    }

    #[test]
    fn parse_is_the_inverse_of_display() {
        for secs in [0, 951_782_400, 1_767_225_599, 4_102_444_800, 1_709_210_096] {
            let t = Timestamp(secs);
            assert_eq!(Timestamp::parse(&t.to_string()), Some(t));
        }
        assert_eq!(Timestamp::parse("2025123123595"), None);
        assert_eq!(Timestamp::parse("20251331235959"), None);
    }

    #[test]
    fn next_rolls_over_the_minute() {
        let t = Timestamp::parse("20251231235959").unwrap();
        assert_eq!(t.next().to_string(), "20260101000000");
    }
}
