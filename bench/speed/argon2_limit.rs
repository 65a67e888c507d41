//! The parallel Argon2 limit of `bench/speed/run.sh`: how many password verifications per second
//! this machine makes with every core verifying at once, with the argon2 crate's defaults
//! (`Argon2::default()`, the parameters the generated app hashes with).
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
    Argon2,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng},
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
                while !stop.load(Ordering::Relaxed) {
                    Argon2::default()
                        .verify_password(password, &parsed)
                        .expect("verify");
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
