// Every difference between the Nix versions the plugin builds against, in one place.
// meson passes the version it read from pkg-config as NFM_NIX_MAJOR, NFM_NIX_MINOR and
// NFM_NIX_VERSION. Built and tested: 2.8 (Debian 12) and 2.26 (2.25-2.27 share its API).
// A version in between needs its own branches here (the first version of each change is
// listed in the plugin issue); until someone builds and tests it, it is refused.
#pragma once

#define NFM_NIX_AT_LEAST(major, minor) \
    (NFM_NIX_MAJOR > (major) || (NFM_NIX_MAJOR == (major) && NFM_NIX_MINOR >= (minor)))

#if !(NFM_NIX_MAJOR == 2 && (NFM_NIX_MINOR == 8 || (NFM_NIX_MINOR >= 25 && NFM_NIX_MINOR <= 27)))
#error "this Nix version is not supported yet: the plugin is built and tested with Nix 2.8 and 2.25-2.27; add the version's API differences to cpp/compat.hh"
#endif

// Nix's own configuration headers must come first: HAVE_BOEHMGC changes EvalState's layout.
#if NFM_NIX_AT_LEAST(2, 25)
#include "config-util.hh"
#include "config-store.hh"
#include "config-expr.hh"
#else
#include "config.h"
#endif

#include "eval.hh"
#include "globals.hh"
#include "local-store.hh"
#include "logging.hh"
#include "pathlocks.hh"
#include "primops.hh"
#include "store-api.hh"
#include "value-to-json.hh"
#if NFM_NIX_AT_LEAST(2, 25)
#include "eval-settings.hh"
#include "posix-fs-canonicalise.hh"
#include "signals.hh"
#include "source-accessor.hh"
#endif

#include <sstream>
#include <string>

namespace nfm::compat {

// The position a primop gets.
#if NFM_NIX_AT_LEAST(2, 25)
using PrimOpPos = const nix::PosIdx;
#else
using PrimOpPos = const nix::Pos &;
#endif

// Named in the error when the argument is not an attribute set (2.13+).
inline constexpr const char * argumentContext =
    "while evaluating the argument passed to builtins.fetchModel";

inline void forceAttrs(nix::EvalState & state, nix::Value & v, PrimOpPos pos)
{
#if NFM_NIX_AT_LEAST(2, 25)
    state.forceAttrs(v, pos, argumentContext);
#else
    state.forceAttrs(v, pos);
#endif
}

// The argument as `builtins.toJSON` prints it. Paths stay paths where Nix lets us say so
// (2.26): in 2.8, Nix copies a path value (e.g. `auth.tokenFile = ./token`) to the
// store, so a token file must be given as a string.
inline std::string toJson(nix::EvalState & state, nix::Value & v, PrimOpPos pos)
{
    std::ostringstream out;
#if NFM_NIX_AT_LEAST(2, 25)
    nix::NixStringContext context;
    nix::printValueAsJSON(state, true, v, pos, out, context, false);
#else
    nix::PathSet context;
    nix::printValueAsJSON(state, true, v, pos, out, context);
#endif
    return out.str();
}

[[noreturn]] inline void throwEvalError(nix::EvalState & state, PrimOpPos pos, const std::string & message)
{
#if NFM_NIX_AT_LEAST(2, 25)
    state.error<nix::EvalError>("%s", nix::Uncolored(message)).atPos(pos).debugThrow();
#else
    (void) state;
    throw nix::EvalError({.msg = nix::hintfmt(message), .errPos = pos});
#endif
}

inline bool pureEval(nix::EvalState & state)
{
#if NFM_NIX_AT_LEAST(2, 25)
    return state.settings.pureEval;
#else
    (void) state;
    return nix::evalSettings.pureEval;
#endif
}

// `dir` added as a fixed-output path: NAR serialisation, sha256.
inline nix::StorePath addDirToStore(nix::Store & store, const std::string & name, const std::string & dir)
{
#if NFM_NIX_AT_LEAST(2, 25)
    return store.addToStore(name, nix::SourcePath(nix::getFSSourceAccessor(), nix::CanonPath(dir)),
        nix::ContentAddressMethod::Raw::NixArchive, nix::HashAlgorithm::SHA256);
#else
    return store.addToStore(name, dir, nix::FileIngestionMethod::Recursive, nix::htSHA256);
#endif
}

// Resets the metadata of a path moved into the store (times, permissions, owner), as Nix
// does after it writes one.
inline void canonicaliseMetadata(const nix::Path & realPath)
{
#if NFM_NIX_AT_LEAST(2, 25)
    nix::canonicalisePathMetaData(realPath);
#else
    nix::canonicalisePathMetaData(realPath, -1);
#endif
}

// What a store registers for `path`, a fixed-output path (recursive, sha256, no references)
// whose NAR has hash `narHash` and `narSize` bytes.
inline nix::ValidPathInfo fixedOutputPathInfo(nix::Store & store, const nix::StorePath & path,
    const nix::Hash & narHash, uint64_t narSize)
{
#if NFM_NIX_AT_LEAST(2, 25)
    nix::ValidPathInfo info{store, path.name(),
        nix::FixedOutputInfo{.method = nix::FileIngestionMethod::NixArchive, .hash = narHash, .references = {}},
        narHash};
#else
    nix::ValidPathInfo info{path, narHash};
    info.ca = nix::FixedOutputHash{.method = nix::FileIngestionMethod::Recursive, .hash = narHash};
#endif
    info.narSize = narSize;
    if (info.path != path)
        throw nix::Error("fetchModel: '%s' is not the fixed-output path of its hash; please report this bug",
            store.printStorePath(path));
    return info;
}

inline bool restrictEval(nix::EvalState & state)
{
#if NFM_NIX_AT_LEAST(2, 25)
    return state.settings.restrictEval;
#else
    (void) state;
    return nix::evalSettings.restrictEval;
#endif
}

// A string that depends on `path` (as "${path}/..." would).
inline void mkStringInPath(nix::Value & v, nix::Store & store, const nix::StorePath & path, const std::string & s)
{
#if NFM_NIX_AT_LEAST(2, 25)
    (void) store;
    v.mkString(s, nix::NixStringContext{nix::NixStringContextElem::Opaque{.path = path}});
#else
    v.mkString(s, nix::PathSet{store.printStorePath(path)});
#endif
}

using PrimOpFun = void (*)(nix::EvalState & state, PrimOpPos pos, nix::Value ** args, nix::Value & v);

inline void registerPrimOp(const char * name, const char * doc, PrimOpFun fun)
{
    // 2.8: RegisterPrimOp::Info; 2.17+: PrimOp. Same field names up to 2.33.
    nix::RegisterPrimOp({.name = name, .args = {"args"}, .arity = 1, .doc = doc, .fun = fun});
}

// Nix 2.22+ calls `nix_plugin_entry` after loading a plugin; older ones only run its static
// initialisers.
#define NFM_HAS_PLUGIN_ENTRY NFM_NIX_AT_LEAST(2, 22)

} // namespace nfm::compat
