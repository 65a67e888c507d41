//! Password hashing with Argon2id.
//!
//! Hashing is deliberately slow and CPU-bound, so it runs on Tokio's blocking pool and at most one
//! hash per CPU core runs at a time: a flood of logins queues up here instead of stalling the
//! async workers that serve every other request. The queue is bounded too: when it is full the
//! request is answered 503 with `Retry-After` at once, rather than waiting ever longer.

use std::{
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::{
        Output, PasswordHash, PasswordHasher as _, Salt, SaltString, rand_core::OsRng,
    },
};
use tokio::sync::Semaphore;

use super::error::ApiError;

/// Hashes that may wait for a core, per core. A hash takes some 15 ms of one core (Argon2id
/// defaults, optimized build), so a full queue is about a second of work.
pub const QUEUED_HASHES_PER_WORKER: usize = 64;
/// The most memory a stored hash may ask for, in 1 KiB blocks (4 GiB).
const MAX_MEMORY_BLOCKS: usize = 4 << 20;
/// The `Retry-After` of the 503 answered when the queue is full.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Hashes and verifies passwords off the async runtime. Cheap to clone (one `Arc`: the state is
/// cloned for every extractor and layer of every request).
#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    /// One per hash that may run at once.
    workers: Arc<Semaphore>,
    /// One per hash that may be running or waiting.
    slots: Arc<Semaphore>,
    /// The working memory of finished verifications (19 MiB each), taken by the next ones: at
    /// most one per worker.
    memory: Mutex<Vec<Vec<Block>>>,
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
        let inner = Inner {
            workers: Arc::new(Semaphore::new(workers)),
            slots: Arc::new(Semaphore::new(workers + queue)),
            memory: Mutex::default(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The Argon2id hash of `password` (PHC string, with a fresh random salt).
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.run(move || hash_blocking(&password)).await?
    }

{%- if "oauth2" in handlers or "magic-link" in handlers %}

    /// The hash of a random password that is thrown away, for an account whose password nobody
    /// may know (a new account of a provider login, or an account claimed by its address's
    /// owner): it never verifies, and a password login to the account takes as long to fail as any
    /// other.
    pub async fn unusable_hash(&self) -> Result<String, ApiError> {
        let (random, _) = super::tokens::generate();
        self.hash(random).await
    }
{%- endif %}

    /// Whether `password` matches `stored`. With no stored hash (no such user) a dummy hash is
    /// checked instead, so that an unknown email takes as long to refuse as a wrong password and the
    /// timing does not reveal which accounts exist.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let inner = Arc::clone(&self.inner);
        self.run(move || {
            // Memory that an earlier verification used: the argon2 crate's `verify_password`
            // allocates its 19 MiB afresh every time, and under a login flood the allocator gave
            // it back to the system and faulted it in again, a tenth of the logins' throughput.
            let mut blocks = inner
                .memory
                .lock()
                .ok()
                .and_then(|mut free| free.pop())
                .unwrap_or_default();
            let stored_or_dummy = stored.as_deref().unwrap_or_else(|| dummy_hash());
            let matches = verify_blocking(&password, stored_or_dummy, &mut blocks);
            // Only memory of the size our own hashes need is kept: one verification of an
            // imported hash with larger parameters does not hold its memory for good.
            let keep = blocks.capacity() <= Params::DEFAULT.block_count();
            if let (true, Ok(mut free)) = (keep, inner.memory.lock()) {
                free.push(blocks);
            }
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
        let slot = Arc::clone(&self.inner.slots)
            .try_acquire_owned()
            .map_err(|_| ApiError::busy(BUSY_RETRY_AFTER))?;
        let worker = Arc::clone(&self.inner.workers)
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

/// Whether `password` hashes to `stored` (a PHC string) with the algorithm, version, parameters
/// and salt that `stored` names: what the crate's `verify_password` does, computed in `memory`
/// (resized to the parameters' block count) and compared in constant time.
fn verify_blocking(password: &str, stored: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    // A stored hash that asks for more memory than any sane setting (4 GiB) is refused rather
    // than allowed to abort the process when the allocation fails.
    if params.block_count() > MAX_MEMORY_BLOCKS {
        tracing::error!(
            m_cost = params.m_cost(),
            "refused a stored password hash: too much memory"
        );
        return false;
    }
    memory.resize(params.block_count(), Block::default());
    let mut computed = [0u8; Output::MAX_LENGTH];
    let computed = &mut computed[..expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, computed, memory.as_mut_slice())
        .is_ok()
        && Output::new(computed).is_ok_and(|computed| computed == expected)
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

    #[test]
    fn a_verification_follows_the_algorithm_version_and_parameters_the_hash_names() {
        // One memory for all, as the workers reuse it: it grows and shrinks with the parameters.
        let mut memory = Vec::new();
        let variants = [
            (Algorithm::Argon2id, Version::V0x13, Params::default()),
            (
                Algorithm::Argon2i,
                Version::V0x10,
                Params::new(16, 2, 2, Some(16)).unwrap(),
            ),
            (
                Algorithm::Argon2d,
                Version::V0x13,
                Params::new(8, 1, 1, Some(64)).unwrap(),
            ),
        ];
        for (algorithm, version, params) in variants {
            let salt = SaltString::generate(&mut OsRng);
            let hash = Argon2::new(algorithm, version, params)
                .hash_password(b"correct horse", &salt)
                .unwrap()
                .to_string();
            assert!(verify_blocking("correct horse", &hash, &mut memory));
            assert!(!verify_blocking("wrong horse", &hash, &mut memory));
        }
        assert!(!verify_blocking("correct horse", "not a hash", &mut memory));
    }

    #[test]
    fn a_stored_hash_that_asks_for_gigabytes_is_refused_without_allocating() {
        let salt = SaltString::generate(&mut OsRng);
        let hash = Argon2::default()
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        let m_cost = format!("m={}", Params::DEFAULT_M_COST);
        let greedy = hash.replace(&m_cost, &format!("m={}", 8 << 20));
        assert_ne!(greedy, hash);
        let mut memory = Vec::new();
        assert!(!verify_blocking("correct horse", &greedy, &mut memory));
        assert!(memory.is_empty());
    }
}
