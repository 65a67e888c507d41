//! Makes cargo rebuild the binary when a template or the release store changes: `include_dir!`
//! alone does not notice files added to an embedded folder on stable Rust.

fn main() {
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-changed=releases");
}
