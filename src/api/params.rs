//! Query parameters every list shares — `page`, `per_page`, `sort`, `q` — validated the same way, and the [`Paged`] answer.
//!
//! A bad value is a 400 whose message names the parameter. `sort` takes a key the endpoint lists,
//! `-key` for descending.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{Error, Result};

/// Items per page unless `per_page` says otherwise.
pub const DEFAULT_PER_PAGE: u64 = 50;
/// The largest `per_page`.
pub const MAX_PER_PAGE: u64 = 500;
/// The longest `q`.
pub const MAX_SEARCH_CHARS: usize = 200;

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page number, from 1.
    #[param(minimum = 1, default = 1)]
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
        let per_page = self.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(Error::BadRequest(format!("per_page={per_page}: use 1 to {MAX_PER_PAGE}")));
        }
        // Past i64 the databases cannot bind the offset.
        if (page - 1).checked_mul(per_page).is_none_or(|o| o > i64::MAX as u64) {
            return Err(Error::BadRequest(format!("page={page} is too large")));
        }
        Ok((page, per_page))
    }
}

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SortParams {
    /// A sort key of this endpoint; `-key` sorts descending.
    pub sort: Option<String>,
    /// Case-insensitive text to look for (at most 200 characters).
    pub q: Option<String>,
}

impl SortParams {
    /// The key among `keys` and whether it is descending; `default` when `sort` is absent or empty.
    pub fn sort<T: Copy>(&self, keys: &[(&str, T)], default: (T, bool)) -> Result<(T, bool)> {
        let Some(raw) = self.sort.as_deref().map(str::trim).filter(|s| !s.is_empty()) else { return Ok(default) };
        let (name, descending) = match raw.strip_prefix('-') {
            Some(name) => (name, true),
            None => (raw, false),
        };
        keys.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v, descending)).ok_or_else(|| {
            let names: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
            Error::BadRequest(format!("sort={raw:?}: use one of {} (with - for descending)", names.join(", ")))
        })
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

    fn sort(s: &str) -> Result<(u8, bool)> {
        SortParams { sort: Some(s.into()), q: None }.sort(&[("name", 1), ("size", 2)], (1, false))
    }

    #[test]
    fn sort_keys_take_a_minus_for_descending_and_unknown_ones_name_the_parameter() {
        assert_eq!(sort("size").unwrap(), (2, false));
        assert_eq!(sort("-name").unwrap(), (1, true));
        assert_eq!(sort("").unwrap(), (1, false));
        let e = sort("colour").unwrap_err().to_string();
        assert!(e.starts_with("sort=\"colour\"") && e.contains("name, size"), "{e}");
    }

    #[test]
    fn pages_count_from_one_and_per_page_is_bounded() {
        let p = |page, per_page| PageParams { page, per_page }.get();
        assert_eq!(p(None, None).unwrap(), (1, DEFAULT_PER_PAGE));
        assert!(p(Some(0), None).unwrap_err().to_string().starts_with("page="));
        assert!(p(None, Some(0)).unwrap_err().to_string().starts_with("per_page="));
        assert!(p(None, Some(MAX_PER_PAGE + 1)).is_err());
        assert!(p(Some(u64::MAX), Some(2)).is_err());
    }

    #[test]
    fn slices_report_the_whole_list() {
        let page = Paged::slice((1..=7).collect::<Vec<_>>(), 2, 3);
        assert_eq!((page.items, page.total, page.pages), (vec![4, 5, 6], 7, 3));
        assert!(Paged::slice(vec![1], 5, 3).items.is_empty());
    }
}
