//! Password hashing with Argon2id.
//!
//! Hashing is deliberately slow and CPU-bound, so it runs on Tokio's blocking pool and at most one
//! hash per CPU core runs at a time: a flood of logins queues up here instead of stalling the
//! async workers that serve every other request. The queue is bounded too: when it is full the
//! request is answered 503 with `Retry-After` at once, rather than waiting ever longer.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use argon2::{
    Argon2,
    password_hash::{
        PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString, rand_core::OsRng,
    },
};
use tokio::sync::Semaphore;

use super::error::ApiError;

/// Hashes that may wait for a core, per core. A hash takes some 15 ms of one core (Argon2id
/// defaults, optimized build), so a full queue is about a second of work.
pub const QUEUED_HASHES_PER_WORKER: usize = 64;
/// The `Retry-After` of the 503 answered when the queue is full.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Hashes and verifies passwords off the async runtime. Cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    /// One per hash that may run at once.
    workers: Arc<Semaphore>,
    /// One per hash that may be running or waiting.
    slots: Arc<Semaphore>,
}

impl Default for Passwords {
    /// One worker per CPU core, [`QUEUED_HASHES_PER_WORKER`] waiting per worker.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores, cores * QUEUED_HASHES_PER_WORKER)
    }
}

impl Passwords {
    /// `workers` hashes at once (at least one), and up to `queue` more waiting for their turn.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        Self {
            workers: Arc::new(Semaphore::new(workers)),
            slots: Arc::new(Semaphore::new(workers + queue)),
        }
    }

    /// The Argon2id hash of `password` (PHC string, with a fresh random salt).
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.run(move || hash_blocking(&password)).await?
    }

    /// Whether `password` matches `stored`. With no stored hash (no such user) a dummy hash is
    /// checked instead, so that an unknown email takes as long to refuse as a wrong password and the
    /// timing does not reveal which accounts exist.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        self.run(move || {
            let matches =
                verify_blocking(&password, stored.as_deref().unwrap_or_else(|| dummy_hash()));
            matches && stored.is_some()
        })
        .await
    }

    /// Runs CPU-heavy `work` on the blocking pool in turn with the hashes: 503 with
    /// `Retry-After` when the queue is full.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        // A full queue answers at once: waiting would only make every caller wait longer.
        let slot = Arc::clone(&self.slots)
            .try_acquire_owned()
            .map_err(|_| ApiError::busy(BUSY_RETRY_AFTER))?;
        let worker = Arc::clone(&self.workers)
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        // The permits go with the work: a request that is dropped meanwhile (the client went
        // away) does not free them while its hash still runs.
        tokio::task::spawn_blocking(move || {
            let _permits = (slot, worker);
            work()
        })
        .await
        .map_err(ApiError::internal)
    }
}

fn hash_blocking(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(ApiError::internal)
}

fn verify_blocking(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a random password, made once, with the same parameters as real hashes.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let (random, _) = super::tokens::generate();
        hash_blocking(&random).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let passwords = Passwords::default();
        let hash = passwords.hash("correct horse".to_owned()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            passwords
                .verify("correct horse".to_owned(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("wrong horse".to_owned(), Some(hash))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("correct horse".to_owned(), None)
                .await
                .unwrap()
        );
    }
}
