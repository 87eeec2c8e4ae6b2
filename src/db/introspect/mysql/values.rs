//! Values of any MariaDB/MySQL column as text, read from the raw row by the column's type (no CAST in SQL).
//!
//! Integers, floats, DECIMAL and the date/time types print as MariaDB prints them; text types as they are;
//! binary types (BINARY, VARBINARY, BLOBs, GEOMETRY) as hex like PostgreSQL's `bytea` (`\x00ff`), or their
//! length when long. BIT prints as its number.

use sea_orm::sqlx::mysql::MySqlRow;
use sea_orm::sqlx::mysql::types::MySqlTime;
use sea_orm::sqlx::{Row, TypeInfo, ValueRef};

use crate::db::introspect::bytes_as_text;
use crate::error::{Error, Result};

/// How a column's values are read, by the type name the driver reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reading {
    Signed,
    Unsigned,
    Float,
    Double,
    /// DECIMAL arrives as its digits.
    Digits,
    Date,
    DateTime,
    Time,
    Binary,
    Text,
}

fn reading(type_name: &str) -> Reading {
    match type_name {
        "BOOLEAN" | "TINYINT" | "SMALLINT" | "INT" | "MEDIUMINT" | "BIGINT" => Reading::Signed,
        "YEAR" | "BIT" => Reading::Unsigned,
        t if t.ends_with(" UNSIGNED") => Reading::Unsigned,
        "FLOAT" => Reading::Float,
        "DOUBLE" => Reading::Double,
        "DECIMAL" => Reading::Digits,
        "DATE" => Reading::Date,
        "DATETIME" | "TIMESTAMP" => Reading::DateTime,
        "TIME" => Reading::Time,
        "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" | "GEOMETRY" => Reading::Binary,
        _ => Reading::Text,
    }
}

/// Column `i` of a row as text; NULL is `None`.
pub(super) fn value_text(row: &MySqlRow, i: usize) -> Result<Option<String>> {
    let raw = row.try_get_raw(i).map_err(|e| Error::Internal(format!("column {i}: {e}")))?;
    if raw.is_null() {
        return Ok(None);
    }
    let type_name = raw.type_info().name().to_string();
    let text = match reading(&type_name) {
        Reading::Signed => row.try_get_unchecked::<i64, _>(i).map(|v| v.to_string()),
        Reading::Unsigned => row.try_get_unchecked::<u64, _>(i).map(|v| v.to_string()),
        Reading::Float => row.try_get_unchecked::<f32, _>(i).map(|v| v.to_string()),
        Reading::Double => row.try_get_unchecked::<f64, _>(i).map(|v| v.to_string()),
        Reading::Digits | Reading::Text => row.try_get_unchecked::<String, _>(i),
        Reading::Binary => row.try_get_unchecked::<Vec<u8>, _>(i).map(|v| bytes_as_text(&v)),
        // The zero date MariaDB allows in some SQL modes has no calendar value: it prints as MariaDB does.
        Reading::Date => Ok(row
            .try_get_unchecked::<chrono::NaiveDate, _>(i)
            .map_or_else(|_| "0000-00-00".to_string(), |d| d.to_string())),
        Reading::DateTime => Ok(row
            .try_get_unchecked::<chrono::NaiveDateTime, _>(i)
            .map_or_else(|_| "0000-00-00 00:00:00".to_string(), |d| d.to_string())),
        // TIME is a duration (-838:59:59 to 838:59:59), not a time of day.
        Reading::Time => row.try_get_unchecked::<MySqlTime, _>(i).map(|t| t.to_string()),
    };
    text.map(Some).map_err(|e| Error::Internal(format!("column {i} ({type_name}): {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_choose_how_to_read() {
        assert_eq!(reading("BIGINT"), Reading::Signed);
        assert_eq!(reading("BOOLEAN"), Reading::Signed);
        assert_eq!(reading("INT UNSIGNED"), Reading::Unsigned);
        assert_eq!(reading("BIT"), Reading::Unsigned);
        assert_eq!(reading("DECIMAL"), Reading::Digits);
        assert_eq!(reading("VARBINARY"), Reading::Binary);
        assert_eq!(reading("TEXT"), Reading::Text);
        assert_eq!(reading("JSON"), Reading::Text);
        assert_eq!(reading("TIMESTAMP"), Reading::DateTime);
    }
}
