// Every difference between the Nix versions the plugin builds against, in one place.
// meson passes the version it read from pkg-config as NFM_NIX_MAJOR, NFM_NIX_MINOR and
// NFM_NIX_VERSION. Each section below names the first Nix version of its change.
//
// Built and tested (tests/nix/plugin): 2.8 (Debian 12) and 2.26.3.
// Compile-checked only: 2.18 to 2.35, with scripts/check-compat.sh against the source tree of
// the first and the last patch release of each (2.18.0 and 2.18.9, ..., 2.35.0 and 2.35.2).
// Versions 2.9-2.17 are refused: nobody has compiled against them, although the sections
// below name where they differ. From 2.31 Nix's headers need C++23 (pkg-config passes
// -std=c++23; GCC 13 or newer, or clang with libc++).
#pragma once

#define NFM_NIX_AT_LEAST(major, minor) \
    (NFM_NIX_MAJOR > (major) || (NFM_NIX_MAJOR == (major) && NFM_NIX_MINOR >= (minor)))

#if !(NFM_NIX_MAJOR == 2 && (NFM_NIX_MINOR == 8 || (NFM_NIX_MINOR >= 18 && NFM_NIX_MINOR <= 35)))
#error "nix-fetch-model does not support the Nix version meson found (NFM_NIX_VERSION, printed as 'building for Nix ...'): supported are Nix 2.8 and 2.26 (built and tested) and 2.18-2.35 (compile-checked with scripts/check-compat.sh); to add a version, add its API differences to cpp/compat.hh and check it"
#endif

// ---------------------------------------------------------------------------------------
// Headers.
// - Up to 2.24: one autoconf config.h, which every file includes first.
// - 2.25-2.27: per-library config-*.hh, which Nix's own build force-includes (-include) and
//   pkg-config does not mention; we include them first.
// - 2.28: headers move to nix/<lib>/..., and each includes its own generated nix/<lib>/config.hh.
// All of them define whether Nix uses the Boehm GC (HAVE_BOEHMGC, NIX_USE_BOEHMGC from 2.28),
// which changes EvalState's layout: it must match the Nix the plugin loads into.
// - 2.18: EvalSettings gets its own eval-settings.hh (2.8: in eval.hh).
// - 2.19: checkInterrupt moves from util.hh to signals.hh.
// - 2.20: canonicalisePathMetaData moves to posix-fs-canonicalise.hh; SourceAccessor and
//   PosixSourceAccessor (2.20-2.22 addToStore) have their own headers.
#if NFM_NIX_AT_LEAST(2, 28)
#include "nix/expr/eval.hh"
#include "nix/expr/eval-settings.hh"
#include "nix/expr/primops.hh"
#include "nix/store/globals.hh"
#include "nix/store/local-store.hh"
#include "nix/store/pathlocks.hh"
#include "nix/store/posix-fs-canonicalise.hh"
#include "nix/store/store-api.hh"
#include "nix/util/logging.hh"
#include "nix/util/signals.hh"
#include "nix/util/source-accessor.hh"
#if NFM_NIX_AT_LEAST(2, 34)
#include "nix/fetchers/fetch-settings.hh"
#include "nix/store/filetransfer.hh"
#endif
#else
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
#if NFM_NIX_AT_LEAST(2, 19)
#include "signals.hh"
#endif
#if NFM_NIX_AT_LEAST(2, 18)
#include "eval-settings.hh"
#endif
#if NFM_NIX_AT_LEAST(2, 20)
#include "posix-fs-canonicalise.hh"
#include "posix-source-accessor.hh"
#include "source-accessor.hh"
#endif
#endif

#include <optional>
#include <string>
#include <string_view>

namespace nfm::compat {

// ---------------------------------------------------------------------------------------
// The position a primop gets: `const Pos &` up to 2.8, `const PosIdx` from 2.9.
#if NFM_NIX_AT_LEAST(2, 9)
using PrimOpPos = const nix::PosIdx;
#else
using PrimOpPos = const nix::Pos &;
#endif

// ---------------------------------------------------------------------------------------
// Reading a forced argument (cpp/argument-json.cc turns it into JSON):
// - its bindings: the field `attrs` up to 2.21, the accessor attrs() from 2.22;
// - an attribute's name: a Symbol that holds its string up to 2.8, an index into
//   state.symbols from 2.9;
// - a forced string's characters: v.string.s up to 2.18, v.string_view() from 2.19.
inline auto bindingsOf(nix::Value & v)
{
#if NFM_NIX_AT_LEAST(2, 22)
    return v.attrs();
#else
    return v.attrs;
#endif
}

inline std::string_view attrName(nix::EvalState & state, const nix::Attr & attr)
{
#if NFM_NIX_AT_LEAST(2, 9)
    return std::string_view(state.symbols[attr.name]);
#else
    (void) state;
    return std::string_view(attr.name);
#endif
}

inline std::string_view stringOf(const nix::Value & v)
{
#if NFM_NIX_AT_LEAST(2, 19)
    return v.string_view();
#else
    return v.string.s;
#endif
}

// The other values of a forced argument:
// - an int, a bool, a float: the fields `integer`, `boolean`, `fpoint` up to 2.21, accessors from
//   2.22; from 2.25 an int is a checked::Checked<int64_t>, whose number is `.value`;
// - a list's elements: listElems()/listSize() up to 2.29, listView() from 2.30.
inline int64_t intOf(const nix::Value & v)
{
#if NFM_NIX_AT_LEAST(2, 25)
    return v.integer().value;
#elif NFM_NIX_AT_LEAST(2, 22)
    return v.integer();
#else
    return v.integer;
#endif
}

inline bool boolOf(const nix::Value & v)
{
#if NFM_NIX_AT_LEAST(2, 22)
    return v.boolean();
#else
    return v.boolean;
#endif
}

inline double floatOf(const nix::Value & v)
{
#if NFM_NIX_AT_LEAST(2, 22)
    return v.fpoint();
#else
    return v.fpoint;
#endif
}

template<typename F>
inline void forEachElem(nix::Value & list, F && f)
{
#if NFM_NIX_AT_LEAST(2, 30)
    for (auto elem : list.listView())
        f(*elem);
#else
    for (size_t i = 0; i < list.listSize(); ++i)
        f(*list.listElems()[i]);
#endif
}

// ---------------------------------------------------------------------------------------
// An evaluation error at the call's position, the message printed as is:
// - 2.8: throw EvalError({.msg = hintfmt(message), .errPos = pos})
// - 2.14-2.20: state.error(message).atPos(pos).debugThrow<EvalError>() (hintfmt of one
//   string prints it uncoloured)
// - 2.21: state.error<EvalError>("%s", Uncolored(message)).atPos(pos).debugThrow()
[[noreturn]] inline void throwEvalError(nix::EvalState & state, PrimOpPos pos, const std::string & message)
{
#if NFM_NIX_AT_LEAST(2, 21)
    state.error<nix::EvalError>("%s", nix::Uncolored(message)).atPos(pos).debugThrow();
#elif NFM_NIX_AT_LEAST(2, 14)
    state.error(message).atPos(pos).debugThrow<nix::EvalError>();
#else
    (void) state;
    throw nix::EvalError({.msg = nix::hintfmt(message), .errPos = pos});
#endif
}

// ---------------------------------------------------------------------------------------
// The evaluator's settings: the global nix::evalSettings up to 2.23, state.settings from 2.24.
inline const nix::EvalSettings & evalSettings(nix::EvalState & state)
{
#if NFM_NIX_AT_LEAST(2, 24)
    return state.settings;
#else
    (void) state;
    return nix::evalSettings;
#endif
}

inline bool pureEval(nix::EvalState & state) { return evalSettings(state).pureEval; }
inline bool restrictEval(nix::EvalState & state) { return evalSettings(state).restrictEval; }

// ---------------------------------------------------------------------------------------
// Nix's `ssl-cert-file`, the roots it trusts (from NIX_SSL_CERT_FILE, SSL_CERT_FILE or the
// system's bundle by default); empty when there is none:
// - up to 2.14: settings.caFile, a plain Path (no option to set it, only the variables);
// - 2.15: a Setting<Path>;
// - 2.34: fileTransferSettings.caFile, a Setting<std::optional<AbsolutePath>>.
inline std::string caFile()
{
#if NFM_NIX_AT_LEAST(2, 34)
    auto & file = nix::fileTransferSettings.caFile.get();
    return file ? file->string() : std::string();
#elif NFM_NIX_AT_LEAST(2, 15)
    return nix::settings.caFile.get();
#else
    return nix::settings.caFile;
#endif
}

// ---------------------------------------------------------------------------------------
// `tarball-ttl`, how long a fetch without a hash is remembered: nix::settings (libstore) up to
// 2.33; from 2.34 only the fetchers' settings have it, which EvalState holds from 2.24.
inline unsigned int tarballTtl(nix::EvalState & state)
{
#if NFM_NIX_AT_LEAST(2, 34)
    return state.fetchSettings.tarballTtl;
#else
    (void) state;
    return nix::settings.tarballTtl;
#endif
}

// ---------------------------------------------------------------------------------------
// `dir` added as a fixed-output path: NAR serialisation, sha256.
// - up to 2.19: addToStore(name, Path, FileIngestionMethod::Recursive, htSHA256)
// - 2.20-2.22: addToStore(name, SourceAccessor &, CanonPath, ContentAddressMethod, HashAlgorithm)
// - 2.23: addToStore(name, SourcePath, ...), with getFSSourceAccessor()
// - 2.24: FileIngestionMethod::Recursive is renamed NixArchive.
inline nix::StorePath addDirToStore(nix::Store & store, const std::string & name, const std::string & dir)
{
#if NFM_NIX_AT_LEAST(2, 24)
    return store.addToStore(name, nix::SourcePath(nix::getFSSourceAccessor(), nix::CanonPath(dir)),
        nix::ContentAddressMethod::Raw::NixArchive, nix::HashAlgorithm::SHA256);
#elif NFM_NIX_AT_LEAST(2, 23)
    return store.addToStore(name, nix::SourcePath(nix::getFSSourceAccessor(), nix::CanonPath(dir)),
        nix::FileIngestionMethod::Recursive, nix::HashAlgorithm::SHA256);
#elif NFM_NIX_AT_LEAST(2, 20)
    nix::PosixSourceAccessor accessor;
    return store.addToStore(name, accessor, nix::CanonPath(dir), nix::FileIngestionMethod::Recursive,
        nix::HashAlgorithm::SHA256);
#else
    return store.addToStore(name, dir, nix::FileIngestionMethod::Recursive, nix::htSHA256);
#endif
}

// ---------------------------------------------------------------------------------------
// A NAR read from `nar` added as a fixed-output path (recursive, sha256); the store hashes it
// as it unpacks it:
// - up to 2.19: addToStoreFromDump(Source &, name, FileIngestionMethod, HashType, ...)
// - 2.20: the method is a ContentAddressMethod and the hash a HashAlgorithm
// - 2.21: a FileSerialisationMethod (how the dump is serialised) comes before the method
// - 2.24: FileSerialisationMethod::Recursive and FileIngestionMethod::Recursive are renamed NixArchive
inline nix::StorePath addNarToStore(nix::Store & store, const std::string & name, nix::Source & nar)
{
#if NFM_NIX_AT_LEAST(2, 24)
    return store.addToStoreFromDump(nar, name, nix::FileSerialisationMethod::NixArchive,
        nix::ContentAddressMethod::Raw::NixArchive, nix::HashAlgorithm::SHA256);
#elif NFM_NIX_AT_LEAST(2, 21)
    return store.addToStoreFromDump(nar, name, nix::FileSerialisationMethod::Recursive,
        nix::FileIngestionMethod::Recursive, nix::HashAlgorithm::SHA256);
#elif NFM_NIX_AT_LEAST(2, 20)
    return store.addToStoreFromDump(nar, name, nix::FileIngestionMethod::Recursive, nix::HashAlgorithm::SHA256);
#else
    return store.addToStoreFromDump(nar, name, nix::FileIngestionMethod::Recursive, nix::htSHA256);
#endif
}

// ---------------------------------------------------------------------------------------
// A NAR stream that ends short (a failed check, Ctrl-C): up to 2.24, a thread reads the
// daemon's answers while the client sends, and prints the daemon's complaint about the short
// stream ("reached end of FramedSource") as "error (ignored): ...", before the real error.
// HideDaemonComplaints passes Nix's logger on, without those lines, for as long as it lives:
// it is made before the stream starts that thread and ends after the thread is joined. From 2.25
// (and 2.24.12) the client no longer reads the answer to a stream it ended. The logger's one
// method to override takes a FormatOrString in 2.8 and a string_view from 2.18; 2.18 adds
// pause, resume and setPrintBuildLogs.
class HideDaemonComplaints
#if !NFM_NIX_AT_LEAST(2, 25)
    : public nix::Logger
#endif
{
#if !NFM_NIX_AT_LEAST(2, 25)
    nix::Logger * next;

    static bool hidden(std::string_view s) { return s.rfind("error (ignored): ", 0) == 0; }

public:
    HideDaemonComplaints() : next(nix::logger) { nix::logger = this; }
    ~HideDaemonComplaints() { nix::logger = next; }

#if NFM_NIX_AT_LEAST(2, 18)
    void log(nix::Verbosity lvl, std::string_view s) override
    {
        if (!hidden(s))
            next->log(lvl, s);
    }
    void pause() override { next->pause(); }
    void resume() override { next->resume(); }
    void setPrintBuildLogs(bool printBuildLogs) override { next->setPrintBuildLogs(printBuildLogs); }
#else
    void log(nix::Verbosity lvl, const nix::FormatOrString & fs) override
    {
        if (!hidden(fs.s))
            next->log(lvl, fs);
    }
#endif
    void stop() override { next->stop(); }
    bool isVerbose() override { return next->isVerbose(); }
    void logEI(const nix::ErrorInfo & ei) override { next->logEI(ei); }
    void warn(const std::string & msg) override { next->warn(msg); }
    void startActivity(nix::ActivityId act, nix::Verbosity lvl, nix::ActivityType type, const std::string & s,
        const Fields & fields, nix::ActivityId parent) override
    {
        next->startActivity(act, lvl, type, s, fields, parent);
    }
    void stopActivity(nix::ActivityId act) override { next->stopActivity(act); }
    void result(nix::ActivityId act, nix::ResultType type, const Fields & fields) override
    {
        next->result(act, type, fields);
    }
    void writeToStdout(std::string_view s) override { next->writeToStdout(s); }
    std::optional<char> ask(std::string_view s) override { return next->ask(s); }
#endif
};

// ---------------------------------------------------------------------------------------
// Resets the metadata of a path moved into the store (times, permissions, owner, ACLs), as
// Nix does after it writes one. Its second argument: a uid (-1: none) in 2.8, an optional uid
// range from 2.12 (defaulted from 2.23), and from 2.34 an options struct that also carries
// the ACLs to leave alone (before, Nix read them from its global settings itself).
inline void canonicaliseMetadata(nix::LocalStore & store, const std::string & realPath)
{
#if NFM_NIX_AT_LEAST(2, 34)
    nix::canonicalisePathMetaData(realPath, {NIX_WHEN_SUPPORT_ACLS(store.config->getLocalSettings().ignoredAcls)});
#elif NFM_NIX_AT_LEAST(2, 18)
    (void) store;
    nix::canonicalisePathMetaData(realPath, std::nullopt);
#else
    (void) store;
    nix::canonicalisePathMetaData(realPath, -1);
#endif
}

// ---------------------------------------------------------------------------------------
// Where a store object is in the filesystem (not its store path with a chroot store):
// Store::toRealPath up to 2.32; from 2.33 only a LocalFSStore has it (any other store's
// objects are not in this filesystem, and its store path is what we can name), and from 2.34
// it returns a std::filesystem::path.
inline std::string realPath(nix::Store & store, const nix::StorePath & path)
{
#if NFM_NIX_AT_LEAST(2, 33)
    if (auto local = dynamic_cast<nix::LocalFSStore *>(&store))
#if NFM_NIX_AT_LEAST(2, 34)
        return local->toRealPath(path).string();
#else
        return local->toRealPath(path);
#endif
    return store.printStorePath(path);
#else
    return store.toRealPath(path);
#endif
}

// ---------------------------------------------------------------------------------------
// What a store registers for `path`, a fixed-output path (recursive, sha256, no references)
// whose NAR has hash `narHash` and `narSize` bytes:
// - up to 2.15: ValidPathInfo(path, narHash), then `info.ca = FixedOutputHash{...}`
// - 2.16: ValidPathInfo(store, name, FixedOutputInfo{...}, narHash) computes the path
// - 2.24: FileIngestionMethod::Recursive is renamed NixArchive
// - 2.32: that constructor becomes ValidPathInfo::makeFromCA(store, name, ..., narHash)
inline nix::ValidPathInfo fixedOutputPathInfo(nix::Store & store, const nix::StorePath & path,
    const nix::Hash & narHash, uint64_t narSize)
{
#if NFM_NIX_AT_LEAST(2, 16)
#if NFM_NIX_AT_LEAST(2, 24)
    constexpr auto nar = nix::FileIngestionMethod::NixArchive;
#else
    constexpr auto nar = nix::FileIngestionMethod::Recursive;
#endif
    nix::FixedOutputInfo ca{.method = nar, .hash = narHash, .references = {}};
#if NFM_NIX_AT_LEAST(2, 32)
    auto info = nix::ValidPathInfo::makeFromCA(store, path.name(), std::move(ca), narHash);
#else
    nix::ValidPathInfo info{store, path.name(), std::move(ca), narHash};
#endif
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

// ---------------------------------------------------------------------------------------
// Strings. From 2.33, Value::mkString allocates through the evaluator's memory (state.mem).
inline void mkString(nix::EvalState & state, nix::Value & v, const std::string & s)
{
#if NFM_NIX_AT_LEAST(2, 33)
    v.mkString(s, state.mem);
#else
    (void) state;
    v.mkString(s);
#endif
}

// The context of a string that depends on `path`, printed `printed` (as "${path}/..." has):
// a PathSet of printed store paths up to 2.15, a NixStringContext of StorePaths from 2.16.
#if NFM_NIX_AT_LEAST(2, 16)
using StringContext = nix::NixStringContext;

inline StringContext contextOf(const nix::StorePath & path, const std::string & printed)
{
    (void) printed;
    return {nix::NixStringContextElem::Opaque{.path = path}};
}
#else
using StringContext = nix::PathSet;

inline StringContext contextOf(const nix::StorePath & path, const std::string & printed)
{
    (void) path;
    return {printed};
}
#endif

inline void mkString(nix::EvalState & state, nix::Value & v, const std::string & s, const StringContext & context)
{
#if NFM_NIX_AT_LEAST(2, 33)
    v.mkString(s, context, state.mem);
#else
    (void) state;
    v.mkString(s, context);
#endif
}

// ---------------------------------------------------------------------------------------
// Registering the primop: RegisterPrimOp(RegisterPrimOp::Info) up to 2.16,
// RegisterPrimOp(PrimOp) from 2.17, with the same field names until 2.34 renames `fun` to
// `impl`. (2.33 makes `doc` a std::optional<std::string>; a const char * still converts.)
using PrimOpFun = void (*)(nix::EvalState & state, PrimOpPos pos, nix::Value ** args, nix::Value & v);

inline void registerPrimOp(const char * name, const char * doc, PrimOpFun fun)
{
#if NFM_NIX_AT_LEAST(2, 34)
    nix::RegisterPrimOp({.name = name, .args = {"args"}, .arity = 1, .doc = doc, .impl = fun});
#else
    nix::RegisterPrimOp({.name = name, .args = {"args"}, .arity = 1, .doc = doc, .fun = fun});
#endif
}

// ---------------------------------------------------------------------------------------
// Nix 2.22+ calls `nix_plugin_entry` after loading a plugin; older ones only run its static
// initialisers.
#define NFM_HAS_PLUGIN_ENTRY NFM_NIX_AT_LEAST(2, 22)

} // namespace nfm::compat
