//! The Hugging Face Hub: repo ids, tokens, the revision and tree APIs, and the
//! errors the Hub answers with.

mod auth;
mod client;
mod errors;
mod link;
mod pagination;
mod repo;

pub use auth::{find_token, Token};
pub use client::{checked_endpoint, choose_endpoint, is_hex, HubClient, ListedFile, Oid, RepoFile};
pub use errors::Asked;
pub use repo::{RepoId, RepoType};

/// The public Hub, used when neither the spec nor `HF_ENDPOINT` names one.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
