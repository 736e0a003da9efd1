//! Human durations for validity periods and thresholds (`3650d`, `90d`, `12h`, `30m`, `45s`, `2w`).
//!
//! Pure parsing: no clock. Zero, negative, fractional and overflowing values are rejected
//! with a message that says what was wrong and what is accepted.

use super::invalid::Invalid;
use std::fmt;
use std::str::FromStr;

/// A positive whole number of seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(u64);

/// The longest duration accepted anywhere (100 years); certificates end before year 9999 anyway.
pub const MAX_SECS: u64 = 100 * 366 * 86_400;

impl Dur {
    pub const fn from_secs(s: u64) -> Self {
        Dur(s)
    }
    pub const fn days(d: u64) -> Self {
        Dur(d * 86_400)
    }
    pub fn secs(self) -> u64 {
        self.0
    }
    pub fn as_time(self) -> time::Duration {
        time::Duration::seconds(self.0 as i64)
    }
}

impl FromStr for Dur {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let t = s.trim();
        let bad = |problem: String| Invalid::Duration {
            value: s.escape_debug().to_string(),
            problem,
        };
        if t.is_empty() {
            return Err(Invalid::EmptyDuration);
        }
        if t.starts_with('-') {
            return Err(bad("is negative".into()));
        }
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        if num.is_empty() {
            return Err(bad("has no number".into()));
        }
        let mult: u64 = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            "" => return Err(bad("has no unit".into())),
            _ => {
                return Err(bad(format!(
                    "has an unknown unit `{}`",
                    unit.escape_debug()
                )))
            }
        };
        let n: u64 = num
            .parse()
            .map_err(|_| Invalid::DurationTooLarge(s.escape_debug().to_string()))?;
        if n == 0 {
            return Err(Invalid::DurationZero(s.escape_debug().to_string()));
        }
        let secs = n
            .checked_mul(mult)
            .filter(|v| *v <= MAX_SECS)
            .ok_or_else(|| Invalid::DurationTooLarge(s.escape_debug().to_string()))?;
        Ok(Dur(secs))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
            if s % n == 0 {
                return write!(f, "{}{unit}", s / n);
            }
        }
        write!(f, "{s}s")
    }
}

impl serde::Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Formats a signed number of seconds for people: `364d 23h`, `5h 12m`, `expired 3d ago`.
/// The one renewal rule: a certificate is due when less than this is left of it — `within`
/// if given, else a third of its lifetime (cert-manager's and step's rule). `renew` re-issues
/// exactly then, and `check` turns WARNING exactly then, so monitoring never pages for a
/// certificate `renew` would leave alone (a 24-hour certificate is OK from birth).
pub fn renewal_threshold(lifetime_secs: i64, within: Option<Dur>) -> i64 {
    within.map_or(lifetime_secs / 3, |d| d.secs() as i64)
}

pub fn human(secs: i64) -> String {
    let a = secs.unsigned_abs();
    let body = if a >= 86_400 {
        format!("{}d {}h", a / 86_400, (a % 86_400) / 3600)
    } else if a >= 3600 {
        format!("{}h {}m", a / 3600, (a % 3600) / 60)
    } else if a >= 60 {
        format!("{}m {}s", a / 60, a % 60)
    } else {
        format!("{a}s")
    };
    if secs < 0 {
        format!("expired {body} ago")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!("3650d".parse::<Dur>().unwrap().secs(), 3650 * 86_400);
        assert_eq!("12h".parse::<Dur>().unwrap().secs(), 43_200);
        assert_eq!("30m".parse::<Dur>().unwrap().secs(), 1800);
        assert_eq!("45s".parse::<Dur>().unwrap().secs(), 45);
        assert_eq!("2w".parse::<Dur>().unwrap().secs(), 14 * 86_400);
    }

    #[test]
    fn rejects_bad_durations() {
        for (bad, needle) in [
            ("0d", "zero"),
            ("-5d", "negative"),
            ("", "empty"),
            ("d", "no number"),
            ("10", "no unit"),
            ("10y", "unknown unit"),
            ("1.5d", "unknown unit"),
            ("99999999999999999999d", "too large"),
            ("40000d", "too large"),
        ] {
            let e = bad.parse::<Dur>().unwrap_err();
            assert!(e.to_string().contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["3650d", "12h", "30m", "45s", "90d"] {
            assert_eq!(s.parse::<Dur>().unwrap().to_string(), s);
        }
        assert_eq!("2w".parse::<Dur>().unwrap().to_string(), "14d");
    }

    #[test]
    fn human_formats() {
        assert_eq!(human(90_000), "1d 1h");
        assert_eq!(human(-3600), "expired 1h 0m ago");
        assert_eq!(human(59), "59s");
    }
}
