#pragma once

#include "compat.hh"

#include <string>

namespace nfm {

// The builtin's argument as JSON for the Rust core, forced as builtins.toJSON forces it, but
// without copying anything into the store: a value JSON cannot hold (a path, a function) is
// written as {"\u0000type": "path"} (src/spec/mod.rs NIX_TYPE), which the core's check then
// reports in the library's words. A token file given as a Nix path never reaches the store.
std::string argumentAsJson(nix::EvalState & state, compat::PrimOpPos pos, nix::Value & arg);

}
