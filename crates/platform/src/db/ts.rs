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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ts(DateTime<Utc>);

impl Ts {
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
    fn precision_is_microseconds() {
        let t = Ts::from(Utc.timestamp_nanos(1_700_000_000_123_456_789));
        assert_eq!(t.get().timestamp_subsec_nanos(), 123_456_000);
    }
}
