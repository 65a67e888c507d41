//! `cargo-users`: run as `cargo users <command>` or `cargo-users <command>`.

fn main() {
    std::process::exit(cargo_users::cli::run(std::env::args_os()));
}
