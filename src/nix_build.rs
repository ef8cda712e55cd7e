//! Whether this process runs inside a Nix build: Nix sets `NIX_BUILD_TOP` in every build.

/// Whether this process runs inside a Nix build; `env` reads a variable (the process
/// environment in production).
pub fn in_nix_build(env: &dyn Fn(&str) -> Option<String>) -> bool {
    env("NIX_BUILD_TOP").is_some()
}
