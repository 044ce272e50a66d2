//! [`Ts`]: a UTC timestamp stored so that both databases sort and compare it correctly.
//!
//! PostgreSQL gets a `TIMESTAMPTZ`. SQLite has no time type, and sqlx writes `DateTime` there
//! with a variable number of fractional digits, which breaks text ordering (`…:00Z` sorts after
//! `…:00.5Z`). `Ts` always writes exactly six digits, so text order is time order.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};

/// A UTC instant with microsecond precision (the finer part is dropped on construction, so a
/// value read back equals the value written).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Ts(DateTime<Utc>);

/// First year the API accepts in a timestamp or a date.
pub const MIN_YEAR: i32 = 1970;
/// Last year the API accepts: four-digit years are what both backends (and RFC 3339) store and
/// read back.
pub const MAX_YEAR: i32 = 9999;

/// Why a timestamp from outside was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsError {
    /// Not RFC 3339 (a date alone, a missing offset, …).
    #[error("expected an RFC 3339 date-time between 1970 and 9999, such as 2026-05-01T09:30:00Z")]
    Format,
    /// Outside the years the API keeps.
    #[error("must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z")]
    Range,
}

impl<'de> Deserialize<'de> for Ts {
    /// Every timestamp that comes in from outside goes through [`Ts::parse`]: RFC 3339 within
    /// the years [`MIN_YEAR`]–[`MAX_YEAR`], so what is stored can always be read back.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        Ts::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Ts {
    /// The latest instant the API keeps (the end of [`MAX_YEAR`]): the bound of a first page
    /// whose order starts from the latest time.
    pub fn latest() -> Self {
        let end = chrono::NaiveDate::from_ymd_opt(MAX_YEAR, 12, 31)
            .and_then(|d| d.and_hms_micro_opt(23, 59, 59, 999_999))
            .unwrap_or_default();
        Self::from(end.and_utc())
    }

    /// The current time.
    pub fn now() -> Self {
        Self::from(Utc::now())
    }

    /// The wrapped `DateTime`.
    pub fn get(self) -> DateTime<Utc> {
        self.0
    }

    /// This instant plus `d`.
    pub fn plus(self, d: chrono::Duration) -> Self {
        Self::from(self.0 + d)
    }

    /// This instant minus `d`.
    pub fn minus(self, d: chrono::Duration) -> Self {
        Self::from(self.0 - d)
    }

    /// Parses an RFC 3339 timestamp from outside, refusing other forms and years outside
    /// [`MIN_YEAR`]–[`MAX_YEAR`].
    pub fn parse(text: &str) -> Result<Self, TsError> {
        let parsed = DateTime::parse_from_rfc3339(text.trim()).map_err(|_| TsError::Format)?.with_timezone(&Utc);
        if !(MIN_YEAR..=MAX_YEAR).contains(&chrono::Datelike::year(&parsed)) {
            return Err(TsError::Range);
        }
        Ok(Self::from(parsed))
    }

    /// Whether `date` is within the years the API keeps.
    pub fn date_in_range(date: chrono::NaiveDate) -> bool {
        (MIN_YEAR..=MAX_YEAR).contains(&chrono::Datelike::year(&date))
    }

    /// RFC 3339 with six fractional digits and `Z`.
    pub fn to_rfc3339(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

impl From<DateTime<Utc>> for Ts {
    fn from(value: DateTime<Utc>) -> Self {
        Self(value.trunc_subsecs(6))
    }
}

impl utoipa::PartialSchema for Ts {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .into()
    }
}
impl utoipa::ToSchema for Ts {}

impl Type<Sqlite> for Ts {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Ts {
    fn encode_by_ref(&self, buf: &mut <Sqlite as sqlx::Database>::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.to_rfc3339(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Ts {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Ok(Self(DateTime::parse_from_rfc3339(text)?.with_timezone(&Utc)))
    }
}

impl Type<Postgres> for Ts {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Ts {
    fn encode_by_ref(&self, buf: &mut <Postgres as sqlx::Database>::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Ts {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self(<DateTime<Utc> as Decode<Postgres>>::decode(value)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn text_form_sorts_like_time() {
        let a = Ts::from(Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap());
        let b = a.plus(chrono::Duration::milliseconds(500));
        assert!(a.to_rfc3339() < b.to_rfc3339());
        assert_eq!(a.to_rfc3339(), "2026-01-01T12:00:00.000000Z");
    }

    #[test]
    fn input_is_rfc3339_within_the_years_kept() {
        let parse = |s: &str| serde_json::from_value::<Ts>(serde_json::json!(s));
        assert_eq!(parse("2026-05-01T09:30:00+02:00").unwrap().to_rfc3339(), "2026-05-01T07:30:00.000000Z");
        assert!(parse("1970-01-01T00:00:00Z").is_ok() && parse("9999-12-31T23:59:59.999999Z").is_ok());
        for far in ["1969-12-31T23:59:59Z", "0001-01-01T00:00:00Z"] {
            assert_eq!(Ts::parse(far), Err(TsError::Range), "{far}");
        }
        // A five-digit year is not RFC 3339 at all.
        assert_eq!(Ts::parse("+10000-01-01T00:00:00Z"), Err(TsError::Format));
        for wrong in ["2026-05-01", "2026-05-01T09:30:00", "tomorrow", ""] {
            let err = parse(wrong).unwrap_err().to_string();
            assert!(err.contains("RFC 3339"), "{wrong}: {err}");
        }
        assert!(serde_json::from_value::<Ts>(serde_json::json!(5)).is_err());
    }

    /// Random instants across the whole accepted range: the text form parses back to the same
    /// value and sorts like time (the SQLite storage), and `parse` takes what `to_rfc3339` writes.
    #[test]
    fn round_trips_across_the_range() {
        use rand::Rng;
        let lo = Utc.with_ymd_and_hms(MIN_YEAR, 1, 1, 0, 0, 0).unwrap().timestamp_micros();
        let hi = Utc.with_ymd_and_hms(MAX_YEAR, 12, 31, 23, 59, 59).unwrap().timestamp_micros() + 999_999;
        let mut rng = rand::rng();
        let mut values: Vec<Ts> =
            (0..2000).map(|_| Ts::from(Utc.timestamp_micros(rng.random_range(lo..=hi)).unwrap())).collect();
        values.push(Ts::from(Utc.timestamp_micros(lo).unwrap()));
        values.push(Ts::from(Utc.timestamp_micros(hi).unwrap()));
        for v in &values {
            assert_eq!(Ts::parse(&v.to_rfc3339()), Ok(*v));
        }
        let mut by_text = values.clone();
        by_text.sort_by_key(|v| v.to_rfc3339());
        values.sort();
        assert_eq!(by_text, values);
    }

    #[test]
    fn precision_is_microseconds() {
        let t = Ts::from(Utc.timestamp_nanos(1_700_000_000_123_456_789));
        assert_eq!(t.get().timestamp_subsec_nanos(), 123_456_000);
    }
}
