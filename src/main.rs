//! `nix-fetch-model`: prefetch a model (print the hash to pin), fetch a spec
//! (the builder of the fixed-output derivation), hash a folder.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
