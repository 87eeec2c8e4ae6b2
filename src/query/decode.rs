//! Raw row values to [`Cell`]s, per backend, by the type the driver reports for each value.
//!
//! PostgreSQL values arrive in the binary format (the extended protocol); NUMERIC is decoded from its
//! base-10000 digits here, so it is exact at any precision. MariaDB DECIMAL arrives as its digits.
//! A type this module does not know is shown as its text when its bytes are UTF-8, else as binary.

use sea_orm::sqlx::mysql::MySqlRow;
use sea_orm::sqlx::mysql::types::MySqlTime;
use sea_orm::sqlx::postgres::types::PgInterval;
use sea_orm::sqlx::postgres::{PgRow, PgValueRef};
use sea_orm::sqlx::sqlite::SqliteRow;
use sea_orm::sqlx::{Column as _, Row, TypeInfo, ValueRef};

use super::{Cell, Column};

pub(crate) fn columns_of<R: Row>(row: &R) -> Vec<Column> {
    row.columns()
        .iter()
        .map(|c| Column { name: c.name().to_string(), type_name: c.type_info().name().to_string() })
        .collect()
}

fn json(v: serde_json::Value) -> Cell {
    Cell::Json(serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string()))
}

/// Bytes of a type without a decoder: text when they are text, else binary.
fn unknown(bytes: &[u8]) -> Cell {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) => Cell::Text(s.to_string()),
        _ => Cell::Binary(bytes.to_vec()),
    }
}

pub(crate) fn pg_row(row: &PgRow) -> Vec<Cell> {
    (0..row.len()).map(|i| pg_cell(row, i)).collect()
}

fn pg_cell(row: &PgRow, i: usize) -> Cell {
    let Ok(raw) = row.try_get_raw(i) else { return Cell::Null };
    if raw.is_null() {
        return Cell::Null;
    }
    let type_name = raw.type_info().name().to_string();
    let num = |s: String| Cell::Number(s);
    let decoded = match type_name.as_str() {
        "BOOL" => row.try_get_unchecked::<bool, _>(i).map(Cell::Bool),
        "INT2" => row.try_get_unchecked::<i16, _>(i).map(|v| num(v.to_string())),
        "INT4" => row.try_get_unchecked::<i32, _>(i).map(|v| num(v.to_string())),
        "INT8" => row.try_get_unchecked::<i64, _>(i).map(|v| num(v.to_string())),
        "OID" => row.try_get_unchecked::<sea_orm::sqlx::postgres::types::Oid, _>(i).map(|v| num(v.0.to_string())),
        "FLOAT4" => row.try_get_unchecked::<f32, _>(i).map(|v| num(float_text(f64::from(v), v.to_string()))),
        "FLOAT8" => row.try_get_unchecked::<f64, _>(i).map(|v| num(float_text(v, v.to_string()))),
        "NUMERIC" => return pg_numeric(&raw).map_or_else(|| pg_unknown(&raw), num),
        "JSON" | "JSONB" => row.try_get_unchecked::<serde_json::Value, _>(i).map(json),
        "BYTEA" => row.try_get_unchecked::<Vec<u8>, _>(i).map(Cell::Binary),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "UNKNOWN" | "CITEXT" | "XML" => {
            row.try_get_unchecked::<String, _>(i).map(Cell::Text)
        }
        // Dates and timestamps from their binary form here: the driver's decoders panic on `infinity`.
        "DATE" => return pg_days(&raw).map_or_else(|| pg_unknown(&raw), Cell::Text),
        "TIME" => row.try_get_unchecked::<chrono::NaiveTime, _>(i).map(|v| Cell::Text(pg_time(v))),
        "TIMESTAMP" => return pg_micros(&raw, "").map_or_else(|| pg_unknown(&raw), Cell::Text),
        // Sent as UTC; shown in UTC the way PostgreSQL prints it with TimeZone = UTC.
        "TIMESTAMPTZ" => return pg_micros(&raw, "+00").map_or_else(|| pg_unknown(&raw), Cell::Text),
        "UUID" => row.try_get_unchecked::<sea_orm::sqlx::types::Uuid, _>(i).map(|v| Cell::Text(v.to_string())),
        "INTERVAL" => row.try_get_unchecked::<PgInterval, _>(i).map(|v| Cell::Text(interval_text(&v))),
        "TEXT[]" | "VARCHAR[]" | "NAME[]" | "BPCHAR[]" => row
            .try_get_unchecked::<Vec<Option<String>>, _>(i)
            .map(|v| Cell::Text(pg_array(v.into_iter().map(|e| e.map(|s| quote_element(&s)))))),
        "INT4[]" => row
            .try_get_unchecked::<Vec<Option<i32>>, _>(i)
            .map(|v| Cell::Text(pg_array(v.into_iter().map(|e| e.map(|n| n.to_string()))))),
        "INT8[]" => row
            .try_get_unchecked::<Vec<Option<i64>>, _>(i)
            .map(|v| Cell::Text(pg_array(v.into_iter().map(|e| e.map(|n| n.to_string()))))),
        _ => return pg_unknown(&raw),
    };
    decoded.unwrap_or_else(|_| pg_unknown(&raw))
}

fn pg_epoch() -> chrono::NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default().and_hms_opt(0, 0, 0).unwrap_or_default()
}

/// A binary DATE (days since 2000-01-01) as text, `infinity` included.
fn pg_days(raw: &PgValueRef<'_>) -> Option<String> {
    let days = i32::from_be_bytes(raw.as_bytes().ok()?.try_into().ok()?);
    Some(match days {
        i32::MAX => "infinity".into(),
        i32::MIN => "-infinity".into(),
        d => pg_date(pg_epoch().date().checked_add_signed(chrono::TimeDelta::days(i64::from(d)))?),
    })
}

/// A binary TIMESTAMP[TZ] (microseconds since 2000-01-01) as text, `infinity` included.
fn pg_micros(raw: &PgValueRef<'_>, zone: &str) -> Option<String> {
    let micros = i64::from_be_bytes(raw.as_bytes().ok()?.try_into().ok()?);
    Some(match micros {
        i64::MAX => "infinity".into(),
        i64::MIN => "-infinity".into(),
        us => pg_timestamp(pg_epoch().checked_add_signed(chrono::TimeDelta::microseconds(us))?, zone),
    })
}

/// A date as PostgreSQL prints it (ISO DateStyle): `2026-11-28`, `0044-03-15 BC`.
fn pg_date(d: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    let (year, era) = if d.year() <= 0 { (1 - d.year(), " BC") } else { (d.year(), "") };
    format!("{year:04}-{:02}-{:02}{era}", d.month(), d.day())
}

/// A time of day as PostgreSQL prints it: seconds' fraction without trailing zeros (`06:19:36.12`).
fn pg_time(t: chrono::NaiveTime) -> String {
    use chrono::Timelike;
    let mut out = format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
    let micros = t.nanosecond() / 1000;
    if micros > 0 {
        let fraction = format!("{micros:06}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out
}

/// A timestamp as PostgreSQL prints it, `zone` before a BC era (`0044-03-15 12:00:00+00 BC`).
fn pg_timestamp(v: chrono::NaiveDateTime, zone: &str) -> String {
    let date = pg_date(v.date());
    let (day, era) = date.split_at(date.find(' ').unwrap_or(date.len()));
    format!("{day} {}{zone}{era}", pg_time(v.time()))
}

fn pg_unknown(raw: &PgValueRef<'_>) -> Cell {
    match raw.as_bytes() {
        Ok(bytes) => unknown(bytes),
        Err(_) => Cell::Null,
    }
}

/// PostgreSQL prints special floats as NaN, Infinity, -Infinity.
fn float_text(v: f64, shown: String) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity".into() } else { "-Infinity".into() }
    } else {
        shown
    }
}

/// A binary NUMERIC as exact decimal text: `ndigits, weight, sign, dscale` then base-10000 digits.
fn pg_numeric(raw: &PgValueRef<'_>) -> Option<String> {
    let b = raw.as_bytes().ok()?;
    numeric_text(b)
}

pub(crate) fn numeric_text(b: &[u8]) -> Option<String> {
    let word = |k: usize| -> Option<u16> { Some(u16::from_be_bytes([*b.get(k)?, *b.get(k + 1)?])) };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(word(2)? as i16);
    let sign = word(4)?;
    let dscale = usize::from(word(6)?);
    match sign {
        0xC000 => return Some("NaN".into()),
        0xD000 => return Some("Infinity".into()),
        0xF000 => return Some("-Infinity".into()),
        0x0000 | 0x4000 => {}
        _ => return None,
    }
    let digits = (0..ndigits).map(|k| word(8 + 2 * k)).collect::<Option<Vec<u16>>>()?;
    let digit = |pos: i64| -> u16 {
        // digits[k] has weight `weight - k`.
        let k = weight - pos;
        if k >= 0 && (k as usize) < digits.len() { digits[k as usize] } else { 0 }
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        out.push_str(&digit(weight).to_string());
        for pos in (0..weight).rev() {
            out.push_str(&format!("{:04}", digit(pos)));
        }
    }
    if dscale > 0 {
        let mut frac = String::new();
        let mut pos = -1;
        while frac.len() < dscale {
            frac.push_str(&format!("{:04}", digit(pos)));
            pos -= 1;
        }
        frac.truncate(dscale);
        out.push('.');
        out.push_str(&frac);
    }
    Some(out)
}

/// Like PostgreSQL's interval output: `1 year 2 mons 3 days 04:05:06.5`.
fn interval_text(v: &PgInterval) -> String {
    let mut parts = Vec::new();
    let (years, months) = (v.months / 12, v.months % 12);
    let unit = |n: i64, one: &str, many: &str| format!("{n} {}", if n.abs() == 1 { one } else { many });
    if years != 0 {
        parts.push(unit(years.into(), "year", "years"));
    }
    if months != 0 {
        parts.push(unit(months.into(), "mon", "mons"));
    }
    if v.days != 0 {
        parts.push(unit(v.days.into(), "day", "days"));
    }
    if v.microseconds != 0 || parts.is_empty() {
        let neg = v.microseconds < 0;
        let us = v.microseconds.unsigned_abs();
        let (h, m, s, frac) = (us / 3_600_000_000, us / 60_000_000 % 60, us / 1_000_000 % 60, us % 1_000_000);
        let mut t = format!("{}{h:02}:{m:02}:{s:02}", if neg { "-" } else { "" });
        if frac != 0 {
            t.push_str(format!(".{frac:06}").trim_end_matches('0'));
        }
        parts.push(t);
    }
    parts.join(" ")
}

fn pg_array(elements: impl Iterator<Item = Option<String>>) -> String {
    let inner: Vec<String> = elements.map(|e| e.unwrap_or_else(|| "NULL".into())).collect();
    format!("{{{}}}", inner.join(","))
}

/// An array element quoted the way PostgreSQL's array output does.
fn quote_element(s: &str) -> String {
    let needs = s.is_empty()
        || s.eq_ignore_ascii_case("NULL")
        || s.chars().any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_ascii_whitespace());
    if needs { format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")) } else { s.to_string() }
}

pub(crate) fn mysql_row(row: &MySqlRow) -> Vec<Cell> {
    (0..row.len()).map(|i| mysql_cell(row, i)).collect()
}

fn mysql_cell(row: &MySqlRow, i: usize) -> Cell {
    let Ok(raw) = row.try_get_raw(i) else { return Cell::Null };
    if raw.is_null() {
        return Cell::Null;
    }
    let type_name = raw.type_info().name().to_string();
    let num = |s: String| Cell::Number(s);
    let decoded = match type_name.as_str() {
        "BOOLEAN" | "TINYINT" | "SMALLINT" | "INT" | "MEDIUMINT" | "BIGINT" => {
            row.try_get_unchecked::<i64, _>(i).map(|v| num(v.to_string()))
        }
        "YEAR" | "BIT" => row.try_get_unchecked::<u64, _>(i).map(|v| num(v.to_string())),
        t if t.ends_with(" UNSIGNED") => row.try_get_unchecked::<u64, _>(i).map(|v| num(v.to_string())),
        "FLOAT" => row.try_get_unchecked::<f32, _>(i).map(|v| num(v.to_string())),
        "DOUBLE" => row.try_get_unchecked::<f64, _>(i).map(|v| num(v.to_string())),
        "DECIMAL" => row.try_get_unchecked::<String, _>(i).map(num),
        "JSON" => row.try_get_unchecked::<String, _>(i).map(|s| match serde_json::from_str(&s) {
            Ok(v) => json(v),
            Err(_) => Cell::Text(s),
        }),
        "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" | "GEOMETRY" => {
            row.try_get_unchecked::<Vec<u8>, _>(i).map(Cell::Binary)
        }
        // The zero dates some SQL modes allow have no calendar value: shown as MariaDB prints them.
        "DATE" => Ok(Cell::Text(
            row.try_get_unchecked::<chrono::NaiveDate, _>(i)
                .map_or_else(|_| "0000-00-00".to_string(), |d| d.to_string()),
        )),
        "DATETIME" | "TIMESTAMP" => Ok(Cell::Text(
            row.try_get_unchecked::<chrono::NaiveDateTime, _>(i)
                .map_or_else(|_| "0000-00-00 00:00:00".to_string(), |d| d.to_string()),
        )),
        "TIME" => row.try_get_unchecked::<MySqlTime, _>(i).map(|t| Cell::Text(t.to_string())),
        _ => row.try_get_unchecked::<String, _>(i).map(Cell::Text),
    };
    decoded.unwrap_or_else(|_| row.try_get_unchecked::<Vec<u8>, _>(i).map_or(Cell::Null, |b| unknown(&b)))
}

pub(crate) fn sqlite_row(row: &SqliteRow) -> Vec<Cell> {
    (0..row.len()).map(|i| sqlite_cell(row, i)).collect()
}

fn sqlite_cell(row: &SqliteRow, i: usize) -> Cell {
    let Ok(raw) = row.try_get_raw(i) else { return Cell::Null };
    if raw.is_null() {
        return Cell::Null;
    }
    // The value's storage class, whatever the column was declared as.
    let class = raw.type_info().name().to_ascii_uppercase();
    let decoded = if class.contains("INT") || class == "BOOLEAN" {
        row.try_get_unchecked::<i64, _>(i).map(|v| Cell::Number(v.to_string()))
    } else if class == "REAL" || class.contains("FLOA") || class.contains("DOUB") {
        row.try_get_unchecked::<f64, _>(i).map(|v| Cell::Number(float_text(v, format!("{v:?}"))))
    } else if class == "BLOB" {
        row.try_get_unchecked::<Vec<u8>, _>(i).map(Cell::Binary)
    } else {
        row.try_get_unchecked::<String, _>(i).map(Cell::Text)
    };
    decoded.unwrap_or_else(|_| row.try_get_unchecked::<Vec<u8>, _>(i).map_or(Cell::Null, |b| unknown(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut b = Vec::new();
        for w in [ndigits, weight as u16, sign, dscale].into_iter().chain(digits.iter().copied()) {
            b.extend_from_slice(&w.to_be_bytes());
        }
        b
    }

    #[test]
    fn numeric_binary_decodes_exactly() {
        // 12345678901234567890.123456789
        let b = numeric(8, 4, 0, 9, &[1234, 5678, 9012, 3456, 7890, 1234, 5678, 9000]);
        assert_eq!(numeric_text(&b).unwrap(), "12345678901234567890.123456789");
        assert_eq!(numeric_text(&numeric(0, 0, 0, 0, &[])).unwrap(), "0");
        assert_eq!(numeric_text(&numeric(0, 0, 0, 2, &[])).unwrap(), "0.00");
        // -0.05 = digit 500 at weight -1
        assert_eq!(numeric_text(&numeric(1, -1, 0x4000, 2, &[500])).unwrap(), "-0.05");
        // 0.00001 = digit 1000 at weight -2
        assert_eq!(numeric_text(&numeric(1, -2, 0, 5, &[1000])).unwrap(), "0.00001");
        // 10000 = digit 1 at weight 1
        assert_eq!(numeric_text(&numeric(1, 1, 0, 0, &[1])).unwrap(), "10000");
        assert_eq!(numeric_text(&numeric(0, 0, 0xC000, 0, &[])).unwrap(), "NaN");
        assert_eq!(numeric_text(&[0, 1]), None);
    }

    #[test]
    fn intervals_print_like_postgres() {
        let v = PgInterval { months: 14, days: 3, microseconds: 4 * 3_600_000_000 + 5 * 60_000_000 + 6_500_000 };
        assert_eq!(interval_text(&v), "1 year 2 mons 3 days 04:05:06.5");
        assert_eq!(interval_text(&PgInterval { months: 0, days: 0, microseconds: 0 }), "00:00:00");
        assert_eq!(interval_text(&PgInterval { months: 0, days: 1, microseconds: 0 }), "1 day");
    }

    #[test]
    fn array_elements_are_quoted_like_postgres() {
        assert_eq!(
            pg_array(["a", "", "b c", "NULL", "x\"y"].iter().map(|s| Some(quote_element(s))).chain([None])),
            r#"{a,"","b c","NULL","x\"y",NULL}"#
        );
    }

    #[test]
    fn unknown_bytes_are_text_or_binary() {
        assert_eq!(unknown(b"happy"), Cell::Text("happy".into()));
        assert_eq!(unknown(&[0, 1, 2]), Cell::Binary(vec![0, 1, 2]));
    }
}
