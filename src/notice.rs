//! How a part of the core tells the user something that is not an error: a retry and why, a
//! wait a server asks for, a bundle of roots it cannot read in a Nix build (the fetch's
//! `Progress::notice` receives them).

use std::sync::Arc;

pub type Notify = Arc<dyn Fn(&str) + Send + Sync>;
