//! Partial dates, date-times and times with their precision, as FHIRPath needs them:
//! comparison is field by field up to the shared precision (uncertain beyond it),
//! time zones are normalised when both sides carry one, and calendar arithmetic
//! clamps to the end of the month.

use std::cmp::Ordering;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Date,
    DateTime,
    Time,
}

/// Precision, ordered from coarsest to finest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Precision {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Millisecond,
}

/// Calendar units usable in date arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CalendarUnit {
    Year,
    Month,
    Week,
    Day,
    Hour,
    Minute,
    Second,
    Millisecond,
}

impl CalendarUnit {
    /// Calendar keywords and the UCUM codes that mean the same thing for date
    /// arithmetic. UCUM `a` and `mo` are averages, not calendar units, so they
    /// are not accepted.
    pub fn from_unit(unit: &str) -> Option<CalendarUnit> {
        Some(match unit {
            "year" | "years" => CalendarUnit::Year,
            "month" | "months" => CalendarUnit::Month,
            "week" | "weeks" | "wk" => CalendarUnit::Week,
            "day" | "days" | "d" => CalendarUnit::Day,
            "hour" | "hours" | "h" => CalendarUnit::Hour,
            "minute" | "minutes" | "min" => CalendarUnit::Minute,
            "second" | "seconds" | "s" => CalendarUnit::Second,
            "millisecond" | "milliseconds" | "ms" => CalendarUnit::Millisecond,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Temporal {
    pub kind: Kind,
    pub precision: Precision,
    year: i32,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    milli: u16,
    /// Offset from UTC in minutes, when written.
    tz: Option<i16>,
}

fn days_in_month(y: i32, m: u8) -> u8 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (proleptic Gregorian).
fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = y as i64 - if m <= 2 { 1 } else { 0 };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    ((yoe + era * 400 + if m <= 2 { 1 } else { 0 }) as i32, m, d)
}

const MS_PER_DAY: i64 = 86_400_000;

fn num(s: &str, len: usize) -> Option<(u32, &str)> {
    let digits = s.get(..len)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, &s[len..]))
}

impl Temporal {
    /// Parses FHIRPath literal text (without the `@`): `2015`, `2015-02-04T14:34:28.123+10:00`,
    /// `2015T`, `T14:34`.
    pub fn parse_literal(s: &str) -> Option<Temporal> {
        if let Some(time) = s.strip_prefix('T') {
            return Temporal::parse_time(time);
        }
        match s.split_once('T') {
            Some((date, time)) => Temporal::parse_datetime_parts(date, time, Kind::DateTime),
            None => Temporal::parse_datetime_parts(s, "", Kind::Date),
        }
    }

    /// Parses a FHIR `date` / `dateTime` / `instant` string of the given kind.
    pub fn parse_fhir(s: &str, kind: Kind) -> Option<Temporal> {
        match kind {
            Kind::Time => Temporal::parse_time(s),
            Kind::Date if s.contains('T') => None,
            _ => match s.split_once('T') {
                Some((date, time)) if !time.is_empty() => Temporal::parse_datetime_parts(date, time, Kind::DateTime),
                Some(_) => None,
                None => Temporal::parse_datetime_parts(s, "", kind),
            },
        }
    }

    fn empty(kind: Kind) -> Temporal {
        Temporal { kind, precision: Precision::Year, year: 0, month: 1, day: 1, hour: 0, minute: 0, second: 0, milli: 0, tz: None }
    }

    fn parse_datetime_parts(date: &str, time: &str, kind: Kind) -> Option<Temporal> {
        let mut t = Temporal::empty(kind);
        let (y, rest) = num(date, 4)?;
        t.year = y as i32;
        let rest = t.parse_fields(rest, &[(Some('-'), Precision::Month), (Some('-'), Precision::Day)])?;
        if !rest.is_empty() || !(1..=12).contains(&t.month) || t.day < 1 || t.day > days_in_month(t.year, t.month) {
            return None;
        }
        if time.is_empty() {
            return Some(t);
        }
        if t.precision != Precision::Day {
            return None;
        }
        let rest = t.parse_clock(time)?;
        let rest = t.parse_zone(rest)?;
        rest.is_empty().then_some(t)
    }

    fn parse_time(s: &str) -> Option<Temporal> {
        let mut t = Temporal::empty(Kind::Time);
        let rest = t.parse_clock(s)?;
        rest.is_empty().then_some(t)
    }

    /// Reads two-digit fields, each after its separator, for as long as the
    /// separators are present (a field without a separator is required).
    fn parse_fields<'s>(&mut self, mut s: &'s str, fields: &[(Option<char>, Precision)]) -> Option<&'s str> {
        for (sep, precision) in fields {
            let r = match sep {
                Some(c) => match s.strip_prefix(*c) {
                    Some(r) => r,
                    None => break,
                },
                None => s,
            };
            let (v, r) = num(r, 2)?;
            let v = v as u8;
            match precision {
                Precision::Month => self.month = v,
                Precision::Day => self.day = v,
                Precision::Hour => self.hour = v,
                Precision::Minute => self.minute = v,
                _ => self.second = v,
            }
            self.precision = *precision;
            s = r;
        }
        Some(s)
    }

    fn parse_clock<'s>(&mut self, s: &'s str) -> Option<&'s str> {
        let mut rest = self.parse_fields(s, &[(None, Precision::Hour), (Some(':'), Precision::Minute), (Some(':'), Precision::Second)])?;
        if self.precision == Precision::Second {
            if let Some(r) = rest.strip_prefix('.') {
                let n = r.bytes().take_while(|b| b.is_ascii_digit()).count();
                if n == 0 {
                    return None;
                }
                let frac = &r[..n.min(3)];
                self.milli = frac.parse::<u16>().ok()? * 10u16.pow(3 - frac.len() as u32);
                self.precision = Precision::Millisecond;
                rest = &r[n..];
            }
        }
        (self.precision >= Precision::Hour && self.hour < 24 && self.minute < 60 && self.second < 60).then_some(rest)
    }

    fn parse_zone<'s>(&mut self, s: &'s str) -> Option<&'s str> {
        if let Some(r) = s.strip_prefix('Z') {
            self.tz = Some(0);
            return Some(r);
        }
        let sign = match s.as_bytes().first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Some(s),
        };
        let (h, r) = num(&s[1..], 2)?;
        let r = r.strip_prefix(':')?;
        let (m, r) = num(r, 2)?;
        if h > 14 || m > 59 {
            return None;
        }
        self.tz = Some(sign * (h * 60 + m) as i16);
        Some(r)
    }

    /// A date-time from wall-clock fields, at millisecond precision (for `now()`).
    pub fn from_unix_millis(ms: i64, kind: Kind) -> Temporal {
        let mut t = Temporal::empty(kind);
        t.set_from_millis(ms);
        t.precision = if kind == Kind::Date { Precision::Day } else { Precision::Millisecond };
        if kind == Kind::DateTime {
            t.tz = Some(0);
        }
        t
    }

    fn epoch_millis(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * MS_PER_DAY
            + ((self.hour as i64 * 60 + self.minute as i64) * 60 + self.second as i64) * 1000
            + self.milli as i64
    }

    fn set_from_millis(&mut self, ms: i64) {
        let (y, m, d) = civil_from_days(ms.div_euclid(MS_PER_DAY));
        let rem = ms.rem_euclid(MS_PER_DAY);
        self.year = y;
        self.month = m;
        self.day = d;
        self.hour = (rem / 3_600_000) as u8;
        self.minute = (rem / 60_000 % 60) as u8;
        self.second = (rem / 1000 % 60) as u8;
        self.milli = (rem % 1000) as u16;
    }

    fn to_utc(self) -> Temporal {
        let mut t = self;
        if let Some(tz) = self.tz {
            t.set_from_millis(self.epoch_millis() - tz as i64 * 60_000);
            t.tz = Some(0);
        }
        t
    }

    /// Comparison position: seconds and milliseconds are one precision level.
    fn level(&self) -> usize {
        (self.precision as usize).min(Precision::Second as usize)
    }

    fn fields(&self) -> [i64; 6] {
        [
            self.year as i64,
            self.month as i64,
            self.day as i64,
            self.hour as i64,
            self.minute as i64,
            self.second as i64 * 1000 + self.milli as i64,
        ]
    }

    /// Whether the two can be compared at all (dates with date-times, times with times).
    pub fn comparable_kinds(&self, o: &Temporal) -> bool {
        (self.kind == Kind::Time) == (o.kind == Kind::Time)
    }

    /// `Some(ordering)`, or `None` when precision or time zones make it uncertain.
    pub fn compare(&self, o: &Temporal) -> Option<Ordering> {
        let (mut a, mut b) = (*self, *o);
        if a.kind != Kind::Time && a.precision >= Precision::Hour && b.precision >= Precision::Hour {
            match (a.tz.is_some(), b.tz.is_some()) {
                (true, true) => {
                    a = a.to_utc();
                    b = b.to_utc();
                }
                (false, false) => {}
                _ => return None,
            }
        }
        let start = if a.kind == Kind::Time { Precision::Hour as usize } else { 0 };
        let (fa, fb) = (a.fields(), b.fields());
        let shared = a.level().min(b.level());
        for i in start..=shared {
            match fa[i].cmp(&fb[i]) {
                Ordering::Equal => {}
                other => return Some(other),
            }
        }
        (a.level() == b.level()).then_some(Ordering::Equal)
    }

    /// Adds `amount` calendar units (negative to subtract).
    pub fn add(&self, amount: i64, unit: CalendarUnit) -> Option<Temporal> {
        let mut t = *self;
        let ms_per = match unit {
            CalendarUnit::Year | CalendarUnit::Month => {
                let months = if unit == CalendarUnit::Year { amount.checked_mul(12)? } else { amount };
                if t.kind == Kind::Time {
                    return None;
                }
                let total = (t.year as i64 * 12 + t.month as i64 - 1).checked_add(months)?;
                t.year = i32::try_from(total.div_euclid(12)).ok()?;
                t.month = (total.rem_euclid(12) + 1) as u8;
                t.day = t.day.min(days_in_month(t.year, t.month));
                return (0..=9999).contains(&t.year).then_some(t);
            }
            CalendarUnit::Week => 7 * MS_PER_DAY,
            CalendarUnit::Day => MS_PER_DAY,
            CalendarUnit::Hour => 3_600_000,
            CalendarUnit::Minute => 60_000,
            CalendarUnit::Second => 1000,
            CalendarUnit::Millisecond => 1,
        };
        let delta = amount.checked_mul(ms_per)?;
        let delta = if t.kind == Kind::Date { delta - delta % MS_PER_DAY } else { delta };
        let ms = t.epoch_millis().checked_add(delta)?;
        t.set_from_millis(if t.kind == Kind::Time { ms.rem_euclid(MS_PER_DAY) } else { ms });
        if t.kind == Kind::Time {
            (t.year, t.month, t.day) = (0, 1, 1);
        }
        (0..=9999).contains(&t.year).then_some(t)
    }

    /// Digits of precision as `precision()` reports them (`@2014` → 4, `@T10:30` → 4).
    pub fn precision_digits(&self) -> i64 {
        let p = self.precision;
        if self.kind == Kind::Time {
            return match p {
                Precision::Hour => 2,
                Precision::Minute => 4,
                Precision::Second => 6,
                _ => 9,
            };
        }
        match p {
            Precision::Year => 4,
            Precision::Month => 6,
            Precision::Day => 8,
            Precision::Hour => 10,
            Precision::Minute => 12,
            Precision::Second => 14,
            Precision::Millisecond => 17,
        }
    }

    /// The earliest (`high == false`) or latest instant this value may denote, at
    /// `digits` precision; `None` for a precision the kind does not have.
    pub fn boundary(&self, digits: i64, high: bool) -> Option<Temporal> {
        let (kind, precision) = match (self.kind, digits) {
            (Kind::Time, 2) => (Kind::Time, Precision::Hour),
            (Kind::Time, 4) => (Kind::Time, Precision::Minute),
            (Kind::Time, 6) => (Kind::Time, Precision::Second),
            (Kind::Time, 9) => (Kind::Time, Precision::Millisecond),
            (Kind::Time, _) => return None,
            (_, 4) => (Kind::Date, Precision::Year),
            (_, 6) => (Kind::Date, Precision::Month),
            (_, 8) => (Kind::Date, Precision::Day),
            (Kind::DateTime, 10) => (Kind::DateTime, Precision::Hour),
            (Kind::DateTime, 12) => (Kind::DateTime, Precision::Minute),
            (Kind::DateTime, 14) => (Kind::DateTime, Precision::Second),
            (Kind::DateTime, 17) => (Kind::DateTime, Precision::Millisecond),
            (Kind::Date, 10 | 12 | 14 | 17) => return None,
            _ => return None,
        };
        let mut t = *self;
        let known = self.precision;
        if known < Precision::Month {
            t.month = if high { 12 } else { 1 };
        }
        if known < Precision::Day {
            t.day = if high { days_in_month(t.year, t.month) } else { 1 };
        }
        if known < Precision::Hour {
            t.hour = if high { 23 } else { 0 };
        }
        if known < Precision::Minute {
            t.minute = if high { 59 } else { 0 };
        }
        if known < Precision::Second {
            t.second = if high { 59 } else { 0 };
        }
        if known < Precision::Millisecond {
            t.milli = if high { 999 } else { 0 };
        }
        if kind == Kind::DateTime && t.tz.is_none() {
            // The widest zones: +14:00 starts earliest, -12:00 ends latest.
            t.tz = Some(if high { -720 } else { 840 });
        }
        if kind == Kind::Date {
            t.tz = None;
        }
        t.kind = kind;
        t.precision = precision;
        Some(t)
    }
}

impl fmt::Display for Temporal {
    /// FHIR text form, without the FHIRPath `@`/`T` literal prefixes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.precision;
        if self.kind != Kind::Time {
            write!(f, "{:04}", self.year)?;
            if p >= Precision::Month {
                write!(f, "-{:02}", self.month)?;
            }
            if p >= Precision::Day {
                write!(f, "-{:02}", self.day)?;
            }
            if p < Precision::Hour {
                return Ok(());
            }
            f.write_str("T")?;
        }
        write!(f, "{:02}", self.hour)?;
        if p >= Precision::Minute {
            write!(f, ":{:02}", self.minute)?;
        }
        if p >= Precision::Second {
            write!(f, ":{:02}", self.second)?;
        }
        if p >= Precision::Millisecond {
            write!(f, ".{:03}", self.milli)?;
        }
        match self.tz {
            Some(0) => f.write_str("Z"),
            Some(tz) => write!(f, "{}{:02}:{:02}", if tz < 0 { '-' } else { '+' }, tz.abs() / 60, tz.abs() % 60),
            None => Ok(()),
        }
    }
}
