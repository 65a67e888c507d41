//! Makes cargo rebuild the binary when a template changes: `include_dir!` alone does not notice
//! files added to the embedded folder on stable Rust.

fn main() {
    println!("cargo:rerun-if-changed=templates");
}
