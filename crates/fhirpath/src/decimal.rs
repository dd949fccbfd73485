//! A small exact decimal: an `i128` mantissa and a decimal scale.
//!
//! FHIRPath decimals are decimal, not binary: `1.8 - 1.2 = 0.6` must hold and
//! `1.0.toString()` must keep its trailing zero, so `f64` is not enough.
//! Transcendental functions (`sqrt`, `ln`, ...) go through `f64`.

use std::cmp::Ordering;
use std::fmt;

/// Largest scale kept after multiplication and division.
const MAX_SCALE: u32 = 28;
/// Digits kept after the point by division (trailing zeros are then dropped).
const DIVISION_SCALE: u32 = 16;

#[derive(Clone, Copy, Debug)]
pub struct Decimal {
    mantissa: i128,
    scale: u32,
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

impl Decimal {
    pub fn from_i64(v: i64) -> Decimal {
        Decimal { mantissa: v as i128, scale: 0 }
    }

    /// Parses `[-+]digits[.digits]`; `None` if malformed or beyond 38 digits.
    pub fn parse(s: &str) -> Option<Decimal> {
        let (neg, body) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !all_digits(int) || !all_digits(frac) || (body.contains('.') && frac.is_empty()) {
            return None;
        }
        if int.len() + frac.len() > 38 {
            return None;
        }
        let mut mantissa: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            mantissa = mantissa.checked_mul(10)?.checked_add((b - b'0') as i128)?;
        }
        Some(Decimal { mantissa: if neg { -mantissa } else { mantissa }, scale: frac.len() as u32 })
    }

    /// Converts through the shortest decimal text of the float; `None` for NaN/inf.
    pub fn from_f64(v: f64) -> Option<Decimal> {
        if !v.is_finite() {
            return None;
        }
        let mut d = Decimal::parse(&format!("{v}"))?;
        if d.scale > MAX_SCALE {
            d = d.round(MAX_SCALE);
        }
        Some(d)
    }

    pub fn to_f64(self) -> f64 {
        self.mantissa as f64 / 10f64.powi(self.scale as i32)
    }

    /// Number of digits after the decimal point, as written.
    pub fn scale(self) -> u32 {
        self.scale
    }

    pub fn is_zero(self) -> bool {
        self.mantissa == 0
    }

    pub fn is_negative(self) -> bool {
        self.mantissa < 0
    }

    /// The integer value if there is no fractional part and it fits.
    pub fn to_i64_exact(self) -> Option<i64> {
        let t = self.trimmed();
        if t.scale == 0 {
            i64::try_from(t.mantissa).ok()
        } else {
            None
        }
    }

    /// Drops trailing fractional zeros (1.500 -> 1.5).
    pub fn trimmed(self) -> Decimal {
        let mut d = self;
        while d.scale > 0 && d.mantissa % 10 == 0 {
            d.mantissa /= 10;
            d.scale -= 1;
        }
        d
    }

    fn with_scale(self, scale: u32) -> Option<Decimal> {
        if scale >= self.scale {
            let m = self.mantissa.checked_mul(pow10(scale - self.scale)?)?;
            Some(Decimal { mantissa: m, scale })
        } else {
            Some(self.round(scale))
        }
    }

    fn aligned(a: Decimal, b: Decimal) -> Option<(i128, i128, u32)> {
        let s = a.scale.max(b.scale);
        Some((a.with_scale(s)?.mantissa, b.with_scale(s)?.mantissa, s))
    }

    pub fn add(self, o: Decimal) -> Option<Decimal> {
        let (a, b, s) = Decimal::aligned(self, o)?;
        Some(Decimal { mantissa: a.checked_add(b)?, scale: s })
    }

    pub fn sub(self, o: Decimal) -> Option<Decimal> {
        self.add(o.neg())
    }

    pub fn neg(self) -> Decimal {
        Decimal { mantissa: -self.mantissa, scale: self.scale }
    }

    pub fn abs(self) -> Decimal {
        Decimal { mantissa: self.mantissa.abs(), scale: self.scale }
    }

    pub fn mul(self, o: Decimal) -> Option<Decimal> {
        let (a, b) = (self.trimmed_if_needed(), o.trimmed_if_needed());
        let d = Decimal { mantissa: a.mantissa.checked_mul(b.mantissa)?, scale: a.scale + b.scale };
        Some(if d.scale > MAX_SCALE { d.round(MAX_SCALE) } else { d })
    }

    fn trimmed_if_needed(self) -> Decimal {
        if self.mantissa.unsigned_abs() > (1u128 << 60) {
            self.trimmed()
        } else {
            self
        }
    }

    /// Division; `None` on division by zero or overflow.
    pub fn div(self, o: Decimal) -> Option<Decimal> {
        if o.mantissa == 0 {
            return None;
        }
        let (a, b) = (self.trimmed(), o.trimmed());
        // value = a.m / 10^a.s / (b.m / 10^b.s); scale the numerator so the quotient has DIVISION_SCALE digits.
        for target in (0..=DIVISION_SCALE).rev() {
            let shift = target as i64 + b.scale as i64 - a.scale as i64;
            let num = if shift >= 0 {
                pow10(shift as u32).and_then(|p| a.mantissa.checked_mul(p))
            } else {
                pow10((-shift) as u32).map(|p| a.mantissa / p)
            };
            if let Some(num) = num {
                let mut q = num / b.mantissa;
                let r = (num % b.mantissa).abs();
                if r >= b.mantissa.abs() - r {
                    q += if (num < 0) != (b.mantissa < 0) { -1 } else { 1 };
                }
                return Some(Decimal { mantissa: q, scale: target }.trimmed());
            }
        }
        None
    }

    /// Truncated division (`div`).
    pub fn div_trunc(self, o: Decimal) -> Option<Decimal> {
        let (a, b, _) = Decimal::aligned(self, o)?;
        if b == 0 {
            return None;
        }
        Some(Decimal { mantissa: a / b, scale: 0 })
    }

    /// Remainder of truncated division (`mod`).
    pub fn rem(self, o: Decimal) -> Option<Decimal> {
        let (a, b, s) = Decimal::aligned(self, o)?;
        if b == 0 {
            return None;
        }
        Some(Decimal { mantissa: a % b, scale: s })
    }

    /// Rounds half away from zero to `scale` digits after the point.
    pub fn round(self, scale: u32) -> Decimal {
        if scale >= self.scale {
            return self.with_scale(scale).unwrap_or(self);
        }
        let p = pow10(self.scale - scale).unwrap_or(i128::MAX);
        let q = self.mantissa / p;
        let r = self.mantissa % p;
        let q = if r.abs() >= p - r.abs() { q + self.mantissa.signum() } else { q };
        Decimal { mantissa: q, scale }
    }

    fn to_scale_directed(self, scale: u32, up: bool) -> Decimal {
        if scale >= self.scale {
            return self.with_scale(scale).unwrap_or(self);
        }
        let p = pow10(self.scale - scale).unwrap_or(i128::MAX);
        let mut q = self.mantissa / p;
        if self.mantissa % p != 0 {
            if up && self.mantissa > 0 {
                q += 1;
            } else if !up && self.mantissa < 0 {
                q -= 1;
            }
        }
        Decimal { mantissa: q, scale }
    }

    /// Largest value with `scale` digits not above self.
    pub fn floor_to(self, scale: u32) -> Decimal {
        self.to_scale_directed(scale, false)
    }

    /// Smallest value with `scale` digits not below self.
    pub fn ceil_to(self, scale: u32) -> Decimal {
        self.to_scale_directed(scale, true)
    }

    /// Truncates toward zero to `scale` digits.
    pub fn truncate_to(self, scale: u32) -> Decimal {
        if scale >= self.scale {
            return self;
        }
        let p = pow10(self.scale - scale).unwrap_or(i128::MAX);
        Decimal { mantissa: self.mantissa / p, scale }
    }

    /// The integral part as i64, if it fits.
    pub fn integral(self) -> Option<i64> {
        i64::try_from(self.truncate_to(0).mantissa).ok()
    }

    /// Numeric comparison (scale-independent).
    pub fn cmp_num(self, o: Decimal) -> Ordering {
        match Decimal::aligned(self, o) {
            Some((a, b, _)) => a.cmp(&b),
            None => self.to_f64().partial_cmp(&o.to_f64()).unwrap_or(Ordering::Equal),
        }
    }

    /// FHIRPath equivalence: equal after rounding both to the lesser precision.
    pub fn equivalent(self, o: Decimal) -> bool {
        let s = self.trimmed().scale.min(o.trimmed().scale);
        self.round(s).cmp_num(o.round(s)) == Ordering::Equal
    }

    /// Half a unit in the last written place (the uncertainty of the literal).
    pub fn half_ulp(self) -> Decimal {
        Decimal { mantissa: 5, scale: self.scale + 1 }
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.mantissa.unsigned_abs().to_string();
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let s = self.scale as usize;
        if s == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = if digits.len() <= s { format!("{}{}", "0".repeat(s + 1 - digits.len()), digits) } else { digits };
        let (i, frac) = padded.split_at(padded.len() - s);
        write!(f, "{sign}{i}.{frac}")
    }
}
