//! Query parameters every list shares — `page`, `per_page`, `sort`, `q` — validated the same way, and the [`Paged`] answer.
//!
//! A bad value is a 400 whose message names the parameter. `sort` takes a key the endpoint lists,
//! `-key` for descending.

use std::marker::PhantomData;

use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Required, Schema};
use utoipa::{IntoParams, ToSchema};

use crate::error::{Error, Result};

/// Items per page unless `per_page` says otherwise.
pub const DEFAULT_PER_PAGE: u64 = 50;
/// The largest `per_page`.
pub const MAX_PER_PAGE: u64 = 500;
/// The longest `q`.
pub const MAX_SEARCH_CHARS: usize = 200;
/// The largest `page`: with `per_page` at most 500 every offset fits the databases' 64-bit integers.
pub const MAX_PAGE: u64 = 1_000_000_000_000;

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page number, from 1 to 10^12.
    #[param(minimum = 1, maximum = 1000000000000_u64, default = 1)]
    pub page: Option<u64>,
    /// Items per page, 1 to 500.
    #[param(minimum = 1, maximum = 500, default = 50)]
    pub per_page: Option<u64>,
}

impl PageParams {
    /// `(page, per_page)`, checked.
    pub fn get(&self) -> Result<(u64, u64)> {
        let page = self.page.unwrap_or(1);
        if page == 0 {
            return Err(Error::BadRequest("page=0: pages count from 1".into()));
        }
        if page > MAX_PAGE {
            return Err(Error::BadRequest(format!("page={page}: use 1 to {MAX_PAGE}")));
        }
        let per_page = self.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(Error::BadRequest(format!("per_page={per_page}: use 1 to {MAX_PER_PAGE}")));
        }
        Ok((page, per_page))
    }
}

/// The sort keys of one list: what its `sort` parameter accepts, documented and checked from this one list.
pub trait SortKeys {
    /// What a key stands for in the handler.
    type Key: Copy;
    /// Each key by name; `-name` sorts descending.
    fn keys() -> Vec<(&'static str, Self::Key)>;
    /// The order when `sort` is absent or empty: key and descending.
    fn default() -> (Self::Key, bool);
    /// Every value `sort` accepts, as the document lists them.
    fn values() -> Vec<String> {
        Self::keys().iter().flat_map(|(k, _)| [k.to_string(), format!("-{k}")]).collect()
    }
}

/// `sort` (one of the list's [`SortKeys`]) and `q`.
#[derive(Clone, Debug, Deserialize)]
pub struct SortParams<K> {
    /// A sort key of this endpoint; `-key` sorts descending.
    pub sort: Option<String>,
    /// Case-insensitive text to look for (at most 200 characters).
    pub q: Option<String>,
    #[serde(skip)]
    keys: PhantomData<K>,
}

impl<K> Default for SortParams<K> {
    fn default() -> Self {
        SortParams { sort: None, q: None, keys: PhantomData }
    }
}

impl<K: SortKeys> IntoParams for SortParams<K> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let sort = ObjectBuilder::new().schema_type(Type::String).enum_values(Some(K::values()));
        // No NUL: the databases cannot take it in a string.
        let q = ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(MAX_SEARCH_CHARS))
            .pattern(Some("^[^\\u0000]*$"));
        let param = |name: &str, description: &str, schema: ObjectBuilder| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(description))
                .schema(Some(Schema::Object(schema.build())))
                .build()
        };
        vec![
            param("sort", "A sort key of this endpoint; `-key` sorts descending.", sort),
            param("q", "Case-insensitive text to look for (at most 200 characters).", q),
        ]
    }
}

impl<K: SortKeys> SortParams<K> {
    /// The key and whether it is descending; the list's default when `sort` is absent or empty.
    pub fn sort(&self) -> Result<(K::Key, bool)> {
        let Some(raw) = self.sort.as_deref().map(str::trim).filter(|s| !s.is_empty()) else { return Ok(K::default()) };
        let (name, descending) = match raw.strip_prefix('-') {
            Some(name) => (name, true),
            None => (raw, false),
        };
        let keys = K::keys();
        let found = keys.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v, descending));
        found
            .filter(|_| K::values().iter().any(|v| v == raw))
            .ok_or_else(|| Error::BadRequest(format!("sort={raw:?}: use one of {}", K::values().join(", "))))
    }

    /// The trimmed search text, `None` when empty.
    pub fn search(&self) -> Result<Option<String>> {
        let q = self.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
        match q {
            Some(q) if q.chars().count() > MAX_SEARCH_CHARS || q.contains('\0') => {
                Err(Error::BadRequest(format!("q: at most {MAX_SEARCH_CHARS} characters, no NUL")))
            }
            other => Ok(other.map(str::to_string)),
        }
    }
}

/// One page of a list.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// From 1.
    pub page: u64,
    pub per_page: u64,
    /// Items in the whole list.
    pub total: u64,
    /// At least 1.
    pub pages: u64,
}

impl<T> Paged<T> {
    pub fn new(items: Vec<T>, page: u64, per_page: u64, total: u64) -> Paged<T> {
        Paged { items, page, per_page, total, pages: total.div_ceil(per_page).max(1) }
    }

    /// The page of a list that was read whole.
    pub fn slice(all: Vec<T>, page: u64, per_page: u64) -> Paged<T> {
        let total = all.len() as u64;
        let start = usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX);
        let items = all.into_iter().skip(start).take(per_page as usize).collect();
        Paged::new(items, page, per_page, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Keys;

    impl SortKeys for Keys {
        type Key = u8;
        fn keys() -> Vec<(&'static str, u8)> {
            vec![("name", 1), ("size", 2)]
        }
        fn default() -> (u8, bool) {
            (1, false)
        }
    }

    fn sort(s: &str) -> Result<(u8, bool)> {
        SortParams::<Keys> { sort: Some(s.into()), ..Default::default() }.sort()
    }

    #[test]
    fn sort_keys_take_a_minus_for_descending_and_unknown_ones_name_the_parameter() {
        assert_eq!(sort("size").unwrap(), (2, false));
        assert_eq!(sort("-name").unwrap(), (1, true));
        assert_eq!(sort("").unwrap(), (1, false));
        let e = sort("colour").unwrap_err().to_string();
        assert!(e.starts_with("sort=\"colour\"") && e.contains("name, -name, size, -size"), "{e}");
    }

    #[test]
    fn pages_count_from_one_and_per_page_is_bounded() {
        let p = |page, per_page| PageParams { page, per_page }.get();
        assert_eq!(p(None, None).unwrap(), (1, DEFAULT_PER_PAGE));
        assert!(p(Some(0), None).unwrap_err().to_string().starts_with("page="));
        assert!(p(None, Some(0)).unwrap_err().to_string().starts_with("per_page="));
        assert!(p(None, Some(MAX_PER_PAGE + 1)).is_err());
        assert!(p(Some(u64::MAX), Some(2)).is_err());
        assert_eq!(p(Some(MAX_PAGE), Some(MAX_PER_PAGE)).unwrap(), (MAX_PAGE, MAX_PER_PAGE));
        assert!(p(Some(MAX_PAGE + 1), None).unwrap_err().to_string().starts_with("page="));
        // The largest offset still fits a signed 64-bit integer.
        assert!((MAX_PAGE - 1).checked_mul(MAX_PER_PAGE).is_some_and(|o| o <= i64::MAX as u64));
    }

    #[test]
    fn slices_report_the_whole_list() {
        let page = Paged::slice((1..=7).collect::<Vec<_>>(), 2, 3);
        assert_eq!((page.items, page.total, page.pages), (vec![4, 5, 6], 7, 3));
        assert!(Paged::slice(vec![1], 5, 3).items.is_empty());
    }
}
