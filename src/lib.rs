//! nix-fetch-model's core: fetch a Hugging Face repo into the Hub cache layout,
//! verified, in parallel, and hash it as Nix does.
//!
//! It works on plain data (a JSON [`spec::FetchSpec`]) and on a directory; it
//! never touches Nix values or the Nix store API.

pub mod error;
pub mod fetch;
pub mod ffi;
pub mod hash;
pub mod http;
pub mod hub;
pub mod layout;
pub mod nar;
pub mod nix_build;
pub mod notice;
pub mod patterns;
pub mod sha256_stream;
pub mod sources;
pub mod spec;
pub mod store_path;
pub mod tls;
pub mod xet;

pub use error::{Error, Result};

/// An environment for tests of code that reads variables through a lookup function.
#[cfg(test)]
mod test_env {
    use std::collections::HashMap;

    pub fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }
}
