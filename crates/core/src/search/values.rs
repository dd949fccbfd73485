//! Typed values that extraction and matching must read the same way: the
//! instants a FHIR date denotes, exact decimals, and relative references.

use crate::definitions;
use crate::resource::is_valid_id;
use crate::time;
use std::cmp::Ordering;

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Millis = i64;

const DAY: Millis = 86_400_000;
/// Unix time of PostgreSQL's epoch (2000-01-01), to format with [`time::instant`].
const PG_EPOCH: Millis = 946_684_800_000;
/// The first and last instants FHIR can write (years 0001 to 9999).
pub const MIN_INSTANT: Millis = days_from_civil(1, 1, 1) * DAY;
pub const MAX_INSTANT: Millis = days_from_civil(10_000, 1, 1) * DAY - 1;

/// An instant as fixed-width UTC text, `YYYY-MM-DDTHH:MM:SS.sssZ`: text order
/// is time order, so tokens compare without parsing.
pub fn format_instant(ms: Millis) -> String {
    time::instant((ms.clamp(MIN_INSTANT, MAX_INSTANT) - PG_EPOCH) * 1000)
}

/// The closed range of instants a FHIR date, dateTime or instant denotes
/// (`1970` is the whole year, `…T10:00Z` the whole minute). A value without a
/// zone is UTC. `None` for anything that is not such a value.
pub fn date_range(text: &str) -> Option<(Millis, Millis)> {
    let (date, clock) = match text.split_once('T') {
        Some((d, c)) => (d, Some(c)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let year = number(parts.next()?, 4).filter(|y| *y >= 1)?;
    let month = parts.next().map(|m| number(m, 2).filter(|m| (1..=12).contains(m)));
    let day = parts.next().map(|d| number(d, 2));
    if parts.next().is_some() {
        return None;
    }
    let (low, width) = match (month, day, clock) {
        (None, None, None) => {
            let low = days_from_civil(year, 1, 1) * DAY;
            (low, days_from_civil(year + 1, 1, 1) * DAY - low)
        }
        (Some(month), None, None) => {
            let month = month?;
            let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
            let low = days_from_civil(year, month, 1) * DAY;
            (low, days_from_civil(next_year, next_month, 1) * DAY - low)
        }
        (Some(month), Some(day), clock) => {
            let (month, day) = (month?, day?);
            if day < 1 || day > days_in_month(year, month) {
                return None;
            }
            let midnight = days_from_civil(year, month, day) * DAY;
            match clock {
                None => (midnight, DAY),
                Some(c) => {
                    let (offset, width) = time_of_day(c)?;
                    (midnight + offset, width)
                }
            }
        }
        _ => return None,
    };
    Some((low.max(MIN_INSTANT), (low + width - 1).min(MAX_INSTANT)))
}

/// `hh[:mm[:ss[.fff…]]][Z|±hh:mm]` as (milliseconds after midnight UTC, width
/// of the period its precision denotes).
fn time_of_day(text: &str) -> Option<(Millis, Millis)> {
    let (clock, zone_minutes) = if let Some(c) = text.strip_suffix('Z') {
        (c, 0)
    } else if let Some(i) = text.rfind(['+', '-']) {
        let (h, m) = text[i + 1..].split_once(':')?;
        let (h, m) = (number(h, 2).filter(|h| *h <= 14)?, number(m, 2).filter(|m| *m < 60)?);
        let sign = if text.as_bytes()[i] == b'-' { -1 } else { 1 };
        (&text[..i], sign * (h * 60 + m))
    } else {
        (text, 0)
    };
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => (hms, Some(f)),
        Some(_) => return None,
        None => (clock, None),
    };
    let mut fields = hms.split(':');
    let hour = number(fields.next()?, 2).filter(|h| *h < 24)?;
    let minute = fields.next().map(|m| number(m, 2).filter(|m| *m < 60));
    let second = fields.next().map(|s| number(s, 2).filter(|s| *s <= 60));
    if fields.next().is_some() || (fraction.is_some() && second.is_none()) {
        return None;
    }
    let mut ms = hour * 3_600_000 + minute.flatten().unwrap_or(0) * 60_000 - zone_minutes * 60_000;
    let width = match (minute, second, fraction) {
        (None, ..) => 3_600_000,
        (Some(m), None, _) => {
            m?;
            60_000
        }
        (Some(m), Some(s), fraction) => {
            m?;
            ms += s? * 1000;
            match fraction {
                None => 1000,
                // Digits past the millisecond are dropped; fewer digits widen the range.
                Some(f) => {
                    let digits = f.len().min(3);
                    let unit = 10_i64.pow(3 - digits as u32);
                    ms += number(&f[..digits], digits)? * unit;
                    unit
                }
            }
        }
    };
    Some((ms, width))
}

/// Exactly `len` ASCII digits.
fn number(text: &str, len: usize) -> Option<i64> {
    (text.len() == len && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok())?
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm, proleptic Gregorian).
const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An exact decimal, `mantissa × 10^-scale`, as FHIR writes numbers: no
/// rounding, so `100` and `99.5` compare exactly at precision boundaries.
#[derive(Clone, Copy, Debug)]
pub struct Decimal {
    mantissa: i128,
    scale: i32,
}

/// Digits and exponent kept: far beyond FHIR's 18-digit decimals, small enough
/// for `i128` arithmetic.
const MAX_DIGITS: usize = 30;
const MAX_EXPONENT: i32 = 64;

impl Decimal {
    /// Parses `[-+]digits[.digits][e[-+]digits]`.
    pub fn parse(text: &str) -> Option<Decimal> {
        let (mantissa_text, exponent) = match text.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i32>().ok().filter(|e| e.abs() <= MAX_EXPONENT)?),
            None => (text, 0),
        };
        let (negative, unsigned) = match mantissa_text.as_bytes().first()? {
            b'-' => (true, &mantissa_text[1..]),
            b'+' => (false, &mantissa_text[1..]),
            _ => (false, mantissa_text),
        };
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let digits = int.len() + frac.len();
        if int.is_empty() || digits > MAX_DIGITS || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let magnitude = int.bytes().chain(frac.bytes()).fold(0_i128, |m, b| m * 10 + i128::from(b - b'0'));
        Some(Decimal { mantissa: if negative { -magnitude } else { magnitude }, scale: frac.len() as i32 - exponent })
    }

    /// The half-open range `[v - u/2, v + u/2)` of values equal to `self` at the
    /// precision it is written with (`u` is one unit of its last digit): `100`
    /// is `[99.5, 100.5)`.
    pub fn precision_range(self) -> Option<(Decimal, Decimal)> {
        let tens = self.mantissa.checked_mul(10)?;
        self.around(tens, 5)
    }

    /// `[v - |v|/10, v + |v|/10]`, FHIR's "approximately" (10 %).
    pub fn approximate_range(self) -> Option<(Decimal, Decimal)> {
        let tens = self.mantissa.checked_mul(10)?;
        self.around(tens, self.mantissa.abs())
    }

    /// `(tens ∓ delta) × 10^-(scale+1)`.
    fn around(self, tens: i128, delta: i128) -> Option<(Decimal, Decimal)> {
        let scale = self.scale + 1;
        Some((Decimal { mantissa: tens.checked_sub(delta)?, scale }, Decimal { mantissa: tens.checked_add(delta)?, scale }))
    }

    /// Exact numeric order (`1.0` equals `1.00`).
    pub fn compare(&self, other: &Decimal) -> Ordering {
        let sign = self.mantissa.signum().cmp(&other.mantissa.signum());
        if sign != Ordering::Equal || self.mantissa == 0 {
            return sign;
        }
        match self.scale.cmp(&other.scale) {
            Ordering::Equal => self.mantissa.cmp(&other.mantissa),
            Ordering::Less => compare_scaled(self.mantissa, other.scale - self.scale, other.mantissa),
            Ordering::Greater => compare_scaled(other.mantissa, self.scale - other.scale, self.mantissa).reverse(),
        }
    }

    /// Text whose byte order is numeric order: `p`/`n` for the sign, then 20
    /// integer and 18 fraction digits (a negative's digits complemented, so a
    /// larger magnitude sorts first). `None` beyond 20 integer digits; extra
    /// fraction digits are truncated.
    pub fn sort_key(&self) -> Option<String> {
        const INT: usize = 20;
        const FRAC: usize = 18;
        let digits = self.mantissa.unsigned_abs().to_string();
        let fixed = if self.scale <= 0 {
            format!("{digits}{}", "0".repeat(self.scale.unsigned_abs() as usize))
        } else {
            // Left-pad so that at least one digit precedes the point.
            format!("{digits:0>width$}", width = self.scale as usize + 1)
        };
        let point = fixed.len() - self.scale.max(0) as usize;
        let int = fixed[..point].trim_start_matches('0');
        if int.len() > INT {
            return None;
        }
        let frac = &fixed[point..fixed.len().min(point + FRAC)];
        let text = format!("{int:0>INT$}{frac:0<FRAC$}");
        Some(if self.mantissa < 0 {
            let complement: String = text.bytes().map(|b| char::from(b'9' - b + b'0')).collect();
            format!("n{complement}")
        } else {
            format!("p{text}")
        })
    }
}

/// Compares `small × 10^shift` with `other`, both of the same non-zero sign.
fn compare_scaled(small: i128, shift: i32, other: i128) -> Ordering {
    match 10_i128.checked_pow(shift as u32).and_then(|p| small.checked_mul(p)) {
        Some(scaled) => scaled.cmp(&other),
        // Too large for i128, so larger in magnitude than `other`.
        None if small > 0 => Ordering::Greater,
        None => Ordering::Less,
    }
}

/// `(type, id)` of a relative reference `Type/id` or `Type/id/_history/v` to
/// a known resource type.
pub fn relative_reference(reference: &str) -> Option<(&str, &str)> {
    let (resource_type, rest) = reference.split_once('/')?;
    let id = match rest.split_once('/') {
        None => rest,
        Some((id, history)) => {
            let version = history.strip_prefix("_history/")?;
            (!version.is_empty() && !version.contains('/')).then_some(id)?
        }
    };
    (definitions::is_resource_type(resource_type) && is_valid_id(id)).then_some((resource_type, id))
}

/// An absolute URL or URN reference (`http://…/Patient/1`, `urn:uuid:…`, a canonical).
pub fn is_absolute(reference: &str) -> bool {
    reference.contains("://") || reference.starts_with("urn:")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> (String, String) {
        let (low, high) = date_range(text).unwrap_or_else(|| panic!("{text}"));
        (format_instant(low), format_instant(high))
    }

    #[test]
    fn a_date_denotes_the_whole_period_of_its_precision() {
        assert_eq!(range("1970"), ("1970-01-01T00:00:00.000Z".into(), "1970-12-31T23:59:59.999Z".into()));
        assert_eq!(range("2024-02"), ("2024-02-01T00:00:00.000Z".into(), "2024-02-29T23:59:59.999Z".into()));
        assert_eq!(range("2023-12-31").1, "2023-12-31T23:59:59.999Z");
        assert_eq!(range("2023-12").1, "2023-12-31T23:59:59.999Z");
        assert_eq!(range("2020-01-01T10:00Z").1, "2020-01-01T10:00:59.999Z");
        assert_eq!(range("2020-01-01T10:00:05Z").1, "2020-01-01T10:00:05.999Z");
        assert_eq!(range("2020-01-01T10:00:05.5Z"), ("2020-01-01T10:00:05.500Z".into(), "2020-01-01T10:00:05.599Z".into()));
        assert_eq!(range("2020-01-01T10:00:05.123456Z").1, "2020-01-01T10:00:05.123Z");
    }

    #[test]
    fn timezone_offsets_are_applied_and_no_zone_is_utc() {
        assert_eq!(range("2020-01-01T01:30:00+02:00").0, "2019-12-31T23:30:00.000Z");
        assert_eq!(range("2020-01-01T23:00:00-05:00").0, "2020-01-02T04:00:00.000Z");
        assert_eq!(range("2020-01-01T23:00:00").0, "2020-01-01T23:00:00.000Z");
        assert_eq!(range("9999-12-31T23:00:00-05:00").1, "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn malformed_dates_are_not_dates() {
        for bad in [
            "",
            "20",
            "2020-13",
            "2020-02-30",
            "2021-02-29",
            "0000",
            "2020-01-01T",
            "2020-01-01T25:00Z",
            "2020-01-01T10:00:00.Z",
            "2020-01-01T10:00:00+15:00",
            "2020-1-01",
            "2020-01T10:00",
            "abcd",
            "10:00:00",
            "2020-01-01T10:00:00.1x",
        ] {
            assert!(date_range(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn decimals_compare_exactly_across_scales_and_exponents() {
        let d = |s| Decimal::parse(s).unwrap();
        assert_eq!(d("1.0").compare(&d("1.00")), Ordering::Equal);
        assert_eq!(d("99.5").compare(&d("100")), Ordering::Less);
        assert_eq!(d("-2").compare(&d("-10")), Ordering::Greater);
        assert_eq!(d("1e2").compare(&d("100.0")), Ordering::Equal);
        assert_eq!(d("1e60").compare(&d("123456789012345678901234567890")), Ordering::Greater);
        assert_eq!(d("-1e60").compare(&d("-1")), Ordering::Less);
        assert!(Decimal::parse("1.2.3").is_none() && Decimal::parse("").is_none() && Decimal::parse(".5").is_none());
        let (low, high) = d("100").precision_range().unwrap();
        assert_eq!((low.compare(&d("99.5")), high.compare(&d("100.5"))), (Ordering::Equal, Ordering::Equal));
        let (low, high) = d("-20").approximate_range().unwrap();
        assert_eq!((low.compare(&d("-22")), high.compare(&d("-18"))), (Ordering::Equal, Ordering::Equal));
    }

    #[test]
    fn decimal_sort_keys_sort_as_numbers() {
        let numbers = ["-1e3", "-12.5", "-12.25", "-0.5", "0", "0.001", "0.5", "2", "10", "12.5", "1e3"];
        let keys: Vec<String> = numbers.iter().map(|n| Decimal::parse(n).unwrap().sort_key().unwrap()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert!(Decimal::parse("1e25").unwrap().sort_key().is_none());
    }

    #[test]
    fn relative_references_name_a_known_type_and_a_valid_id() {
        assert_eq!(relative_reference("Patient/1"), Some(("Patient", "1")));
        assert_eq!(relative_reference("Patient/1/_history/2"), Some(("Patient", "1")));
        for other in ["Nope/1", "Patient/", "Patient/1/2", "Patient/1/_history/", "#p1", "1", "http://x/Patient/1"] {
            assert_eq!(relative_reference(other), None, "{other}");
        }
        assert!(is_absolute("http://x/Patient/1") && is_absolute("urn:uuid:1") && !is_absolute("Patient/1"));
    }
}
