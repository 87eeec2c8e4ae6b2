//! Catalog reads for pages: each runs under `catalog_timeout`, and a read that times out renders as a note, not an error.

use std::future::Future;
use std::time::Duration;

use crate::error::Result;

/// What a page shows when a read did not answer in time.
pub fn timeout_note(limit: Duration) -> String {
    format!(
        "The database did not answer this catalog read within {} s, so this part is empty. \
         Reload to try again, or raise catalog_timeout ([strata] catalog_timeout / STRATA_CATALOG_TIMEOUT).",
        limit.as_secs_f64()
    )
}

/// Runs a read under `limit`: `Ok(None)` when it timed out, errors pass through.
pub async fn read<T>(limit: Duration, fut: impl Future<Output = Result<T>>) -> Result<Option<T>> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result.map(Some),
        Err(_) => {
            tracing::warn!("catalog read timed out after {limit:?}");
            Ok(None)
        }
    }
}
