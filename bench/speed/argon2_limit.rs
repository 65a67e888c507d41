//! The parallel Argon2 limit of `bench/speed/run.sh`: how many password verifications per second
//! this machine makes with every core verifying at once, with the argon2 crate's defaults
//! (`Argon2::default()`, the parameters the generated app hashes with). Each thread computes into
//! memory it allocated once, as the generated app's workers do (`hash_password_into_with_memory`,
//! then a constant-time comparison): the cost of the hash alone, without an allocation per
//! verification.
//!
//! The benchmark copies this file into the generated app as `src/bin/bench_argon2.rs`, so it runs
//! the app's own argon2 version with the app's release profile.
//!
//!     bench_argon2 SECONDS
//!
//! Prints `RESULT requests=N seconds=S threads=T`, N verifications that succeeded.

use std::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::{Duration, Instant},
};

use argon2::{
    Argon2, Block, Params,
    password_hash::{Output, PasswordHash, PasswordHasher, SaltString, rand_core::OsRng},
};

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|value| value.parse().ok())
        .unwrap_or(5.0);
    let password = b"correct horse battery staple";
    let salt = SaltString::generate(&mut OsRng);
    let stored = Argon2::default()
        .hash_password(password, &salt)
        .expect("hash")
        .to_string();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let parsed = PasswordHash::new(&stored).expect("parse");
                let expected = parsed.hash.expect("an output");
                let mut salt_bytes = [0u8; 64];
                let salt_bytes = parsed
                    .salt
                    .expect("a salt")
                    .decode_b64(&mut salt_bytes)
                    .expect("salt");
                let params = Params::try_from(&parsed).expect("params");
                let mut memory = vec![Block::default(); params.block_count()];
                let mut computed = vec![0u8; expected.len()];
                while !stop.load(Ordering::Relaxed) {
                    Argon2::default()
                        .hash_password_into_with_memory(
                            password,
                            salt_bytes,
                            &mut computed,
                            &mut memory,
                        )
                        .expect("hash");
                    assert!(Output::new(&computed).expect("output") == expected, "verify");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(Duration::from_secs_f64(seconds));
        stop.store(true, Ordering::Relaxed);
    });
    // Verifications still running at the deadline finish and count; the time counts up to there.
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "RESULT requests={} seconds={elapsed:.3} threads={threads} status_200={}",
        done.load(Ordering::Relaxed),
        done.load(Ordering::Relaxed)
    );
}
