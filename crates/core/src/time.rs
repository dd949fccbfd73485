//! FHIR `instant` text from PostgreSQL timestamps, without a date crate.

/// Microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

/// Formats a PostgreSQL `TimestampTz` (µs since 2000-01-01 UTC) as a FHIR
/// instant with millisecond precision: `2026-11-22T18:16:00.123Z`.
pub fn instant(pg_micros: i64) -> String {
    let mut text = instant_micros(pg_micros);
    text.replace_range(23..26, "");
    text
}

/// The same with microseconds (`2026-11-22T18:16:00.123456Z`), for audit
/// records, which a millisecond would not order.
pub fn instant_micros(pg_micros: i64) -> String {
    let unix = pg_micros + PG_EPOCH_UNIX_MICROS;
    let (days, micros_of_day) = (unix.div_euclid(86_400_000_000), unix.rem_euclid(86_400_000_000));
    let (y, m, d) = civil_from_days(days);
    let secs = micros_of_day / 1_000_000;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z", secs / 3600, secs / 60 % 60, secs % 60, micros_of_day % 1_000_000)
}

/// Truncates a PostgreSQL timestamp to the millisecond, the precision of `meta.lastUpdated`.
pub fn truncate_to_millis(pg_micros: i64) -> i64 {
    pg_micros - pg_micros.rem_euclid(1000)
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_precision_keeps_the_microseconds() {
        assert_eq!(instant_micros(1_234_567), "2000-01-01T00:00:01.234567Z");
        assert_eq!(instant(1_234_567), "2000-01-01T00:00:01.234Z");
        assert_eq!(instant_micros(-1), "1999-12-31T23:59:59.999999Z");
    }

    #[test]
    fn postgres_epoch_is_y2k() {
        assert_eq!(instant(0), "2000-01-01T00:00:00.000Z");
    }

    #[test]
    fn formats_leap_days_and_milliseconds() {
        // 2024-02-29T13:14:15.678901Z
        let micros = ((8825 * 86_400 + 13 * 3600 + 14 * 60 + 15) * 1_000_000) + 678_901;
        assert_eq!(instant(micros), "2024-02-29T13:14:15.678Z");
    }

    #[test]
    fn formats_times_before_2000() {
        assert_eq!(instant(-1_000), "1999-12-31T23:59:59.999Z");
    }

    #[test]
    fn truncation_keeps_whole_milliseconds() {
        assert_eq!(truncate_to_millis(1_234_567), 1_234_000);
        assert_eq!(truncate_to_millis(-1), -1_000);
    }
}
