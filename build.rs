//! Generates and compiles the C++ side of the plugin's bridge (src/ffi.rs).
//! meson finds the generated headers under `<target dir>/cxxbridge/`.

fn main() {
    cxx_build::bridge("src/ffi.rs")
        .std("c++17")
        .compile("nix_fetch_model_bridge");
    println!("cargo:rerun-if-changed=src/ffi.rs");
}
