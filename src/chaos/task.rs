//! Small helpers every part of the chaos module shares: blocking cluster work off the async
//! workers, and a lock that survives a poisoned mutex.

use crate::error::{Error, Result};

pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs blocking cluster or client work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|source| Error::Task { what: "a background task", source })?
}
