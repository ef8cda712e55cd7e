// builtins.fetchModel: the argument as JSON to the Rust core (src/ffi.rs), the store work here.
#include "argument-json.hh"
#include "compat.hh"
#include "fetch-model.hh"

#include "nix-fetch-model/src/ffi.rs.h"
#include "rust/cxx.h"

#include <chrono>
#include <thread>

namespace nfm {

using namespace nix;

namespace {

constexpr auto pollInterval = std::chrono::milliseconds(100);

constexpr auto lockPatience = std::chrono::minutes(10);

// Serialises fetches of one store path across processes and users; released when dropped.
// While another process fetches the model, waits until it is in the store (the caller then
// finds it there). A lock held longer than `lockPatience` without the model appearing (a lock
// file another user holds on purpose, a stuck fetch) is given up: the fetch goes on unlocked.
rust::Box<FetchLock> lockFetch(Store & store, const StorePath & path, const Plan & plan)
{
    auto lock = nfm::fetch_lock(plan.store_path);
    if (!lock->try_acquire()) {
        printInfo("waiting for another fetch of model '%s'", std::string(plan.subject));
        auto giveUp = std::chrono::steady_clock::now() + lockPatience;
        while (!lock->try_acquire() && !store.isValidPath(path)) {
            checkInterrupt();
            if (std::chrono::steady_clock::now() > giveUp) {
                warn("fetchModel: another process has held the lock of model '%s' for %d minutes without "
                     "fetching it; fetching it without the lock",
                    std::string(plan.subject), std::chrono::duration_cast<std::chrono::minutes>(lockPatience).count());
                break;
            }
            std::this_thread::sleep_for(pollInterval);
        }
    }
    if (auto why = lock->warning(); !why.empty())
        warn("fetchModel: %s", std::string(why));
    return lock;
}

// `nix-instantiate --eval` sets read-only mode, in which Nix refuses to substitute although it
// lets a fetch add paths (as builtins.fetchurl does); a download would write the store all the same.
struct AllowSubstitution
{
    bool readOnly = settings.readOnlyMode;
    AllowSubstitution() { settings.readOnlyMode = false; }
    ~AllowSubstitution() { settings.readOnlyMode = readOnly; }
};

// Nix's copy, or one from a substituter (a team's binary cache); false if neither has it.
bool haveOrSubstitute(Store & store, const StorePath & path)
{
    if (store.isValidPath(path))
        return true;
    try {
        AllowSubstitution allow;
        store.ensurePath(path);
        return true;
    } catch (Error & e) {
        debug("fetchModel: no substitute for '%s': %s", store.printStorePath(path), e.what());
        return false;
    }
}

// A running fetch in Nix's progress display, and its notices (retries, waits) as warnings.
class FetchReport
{
    Fetch & fetch;
    Activity act;
    std::chrono::steady_clock::time_point shown;

public:
    FetchReport(Fetch & fetch, const Plan & plan)
        : fetch(fetch)
        , act(*logger, lvlInfo, actFileTransfer,
              fmt("fetching model '%s' at '%s' from %s", std::string(plan.subject), std::string(plan.revision),
                  std::string(plan.endpoint)),
              {std::string(plan.endpoint) + "/" + std::string(plan.subject)})
    {
    }

    // Checks for Ctrl-C (whose exception drops the fetch, which stops it and removes its
    // directory) and shows the progress, at most once a poll interval.
    void poll()
    {
        checkInterrupt();
        auto now = std::chrono::steady_clock::now();
        if (now - shown < pollInterval)
            return;
        shown = now;
        auto progress = fetch.progress();
        act.progress(progress.done_bytes, progress.total_bytes);
        for (auto & notice : fetch.take_notices())
            warn("fetchModel: %s", std::string(notice));
    }
};

// Runs the fetch to its end.
void waitFor(Fetch & fetch, FetchReport & report)
{
    while (!fetch.wait(pollInterval.count()))
        report.poll();
}

// The NAR of a fetch, read while it downloads. Reads wait here, on Nix's thread, a poll
// interval at a time, so that Ctrl-C still stops the fetch at once.
struct NarOfFetch : Source
{
    Fetch & fetch;
    FetchReport & report;

    NarOfFetch(Fetch & fetch, FetchReport & report) : fetch(fetch), report(report) {}

    size_t read(char * data, size_t len) override
    {
        while (true) {
            auto chunk = fetch.read_nar(rust::Slice<uint8_t>(reinterpret_cast<uint8_t *>(data), len),
                pollInterval.count());
            if (chunk.bytes > 0)
                return chunk.bytes;
            if (chunk.end)
                throw EndOfFile("end of the model's NAR");
            report.poll();
        }
    }
};

// A store that is not local (Nix's daemon) takes the NAR as a stream while the blobs
// download: its bytes reach the store in one pass, and the daemon hashes them as it unpacks
// them. The stream starts once a failure can no longer leave anything in the store, and a
// failure ends it short, so the daemon adds nothing (src/fetch/nar_stream.rs).
StorePath streamIntoStore(Store & store, Fetch & fetch, FetchReport & report, const Plan & plan)
{
    while (!fetch.nar_ready(pollInterval.count()))
        report.poll();
    NarOfFetch nar(fetch, report);
    compat::HideDaemonComplaints hidden;
    return compat::addNarToStore(store, std::string(plan.name), nar);
}

// Nix's addToStore serialises `dir`, hashes it and writes a copy. With the NAR hash and
// size known, a local store can take `dir` itself: rename it into place under Nix's lock of
// the path, reset its metadata and register it, as addToStore ends. False when the store
// is not local or `dir` is on another filesystem (then addToStore copies it).
bool moveIntoStore(Store & store, const StorePath & path, const std::string & dir, const Fetched & fetched)
{
    auto local = dynamic_cast<LocalStore *>(&store);
    if (!local)
        return false;
    auto info = compat::fixedOutputPathInfo(store, path, Hash::parseSRI(std::string(fetched.nar_hash)),
        fetched.nar_size);
    auto realPath = compat::realPath(store, path);
    local->addTempRoot(path);
    PathLocks outputLock({realPath});
    if (local->isValidPath(path))
        return true;
    deletePath(realPath);
    if (rename(dir.c_str(), realPath.c_str()) == -1) {
        if (errno == EXDEV)
            return false;
        throw SysError("moving '%s' to '%s'", dir, realPath);
    }
    compat::canonicaliseMetadata(*local, realPath);
    local->optimisePath(realPath, NoRepair); // only with auto-optimise-store
    local->registerValidPath(info);
    outputLock.setDeletion(true);
    return true;
}

// A store path with the text Rust printed it as in this store.
struct PrintedPath
{
    StorePath path;
    std::string printed;
};

// `path`: printed by Rust in `store`'s directory, which C++ gave it.
PrintedPath storePathOf(const Store & store, const rust::String & path)
{
    auto printed = std::string_view(path.data(), path.size());
    return {StorePath(printed.substr(store.storeDir.size() + 1)), std::string(printed)};
}

// The commit of a model in the store, remembered from an earlier call if there was one.
std::string commitOf(Store & store, const StorePath & path, const rust::String & narHash)
{
    auto remembered = nfm::remembered_commit(narHash);
    if (!remembered.empty())
        return std::string(remembered);
    return std::string(nfm::commit_in_store(compat::realPath(store, path), narHash));
}

void returnModel(EvalState & state, Value & v, const PrintedPath & model, const rust::String & narHash,
    const std::string & commit)
{
    auto attrs = state.buildBindings(4);
    state.allowPath(model.path);
    auto inModel = compat::contextOf(model.path, model.printed);
    compat::mkString(state, attrs.alloc("outPath"), model.printed, inModel);
    compat::mkString(state, attrs.alloc("narHash"), std::string(narHash));
    compat::mkString(state, attrs.alloc("commit"), commit);
    auto snapshot = nfm::snapshot_of(commit);
    if (!snapshot.empty())
        compat::mkString(state, attrs.alloc("snapshot"), model.printed + "/" + std::string(snapshot), inModel);
    v.mkAttrs(attrs);
}

// A model in the store, and what the result says of it.
struct Found
{
    PrintedPath model;
    rust::String narHash;
    std::string commit;
};

void returnFound(EvalState & state, Value & v, const Found & found)
{
    returnModel(state, v, found.model, found.narHash, found.commit);
}

// A pinned model already in the store, from its spec (`hash` and `name`), as fetchurl finds a
// pinned file from its `sha256` and `name`, without the network. The whole spec is checked all
// the same (the core refuses it with every problem): a mistake is found on the machine where
// it is made, not on a clean one that has to fetch.
std::optional<Found> pinnedInStore(Store & store, const std::string & spec)
{
    auto pinned = nfm::pinned(spec, store.storeDir);
    if (pinned.store_path.empty())
        return std::nullopt;
    auto model = storePathOf(store, pinned.store_path);
    if (!store.isValidPath(model.path))
        return std::nullopt;
    auto commit = commitOf(store, model.path, pinned.hash);
    return Found{std::move(model), std::move(pinned.hash), std::move(commit)};
}

// What an unpinned fetch of the same spec put into the store less than `tarball-ttl` seconds
// ago, as fetchTarball remembers what a URL gave: repeated evaluations ask the Hub nothing.
std::optional<Found> fetchedLately(EvalState & state, const std::string & spec)
{
    auto & store = *state.store;
    auto remembered = nfm::remembered_unpinned(spec, store.storeDir, compat::tarballTtl(state));
    if (remembered.store_path.empty())
        return std::nullopt;
    auto model = storePathOf(store, remembered.store_path);
    if (!store.isValidPath(model.path))
        return std::nullopt;
    return Found{std::move(model), std::move(remembered.nar_hash), std::string(remembered.commit)};
}

// Downloads the model and adds it to the store: a local store takes the fetched folder, any
// other store (Nix's daemon) the NAR as a stream while it downloads.
std::pair<PrintedPath, Fetched> fetchIntoStore(Store & store, const std::string & spec, const Plan & plan)
{
    bool local = dynamic_cast<LocalStore *>(&store);
    auto fetch = nfm::start_fetch(spec, store.storeDir, !local, compat::caFile());
    FetchReport report(*fetch, plan);
    std::optional<StorePath> added;
    if (local)
        waitFor(*fetch, report);
    else
        added = streamIntoStore(store, *fetch, report, plan);
    auto fetched = fetch->result();
    auto model = storePathOf(store, fetched.store_path);
    if (!added && !store.isValidPath(model.path)
        && !moveIntoStore(store, model.path, std::string(fetched.dir), fetched))
        added = compat::addDirToStore(store, std::string(plan.name), std::string(fetched.dir));
    if (added && *added != model.path)
        throw Error("fetchModel: the store added '%s' where '%s' was expected; please report this bug",
            store.printStorePath(*added), model.printed);
    return {std::move(model), std::move(fetched)};
}

void warnUnpinned(const Plan & plan, const rust::String & narHash)
{
    warn("fetchModel: model '%s' has no 'hash'; to pin it, add hash = \"%s\";", std::string(plan.subject),
        std::string(narHash));
}

void fetchModel(EvalState & state, compat::PrimOpPos pos, Value & arg, Value & v)
{
    auto & store = *state.store;
    auto spec = argumentAsJson(state, pos, arg);

    // In restricted mode the URLs are checked before anything else.
    if (!compat::restrictEval(state))
        if (auto hit = pinnedInStore(store, spec))
            return returnFound(state, v, *hit);

    auto plan = nfm::plan(spec, store.storeDir);

    for (auto & url : plan.urls)
        state.checkURI(std::string(url));
    if (plan.hash.empty() && compat::pureEval(state))
        compat::throwEvalError(state, pos,
            "in pure evaluation mode, 'builtins.fetchModel' requires a 'hash' argument");

    if (plan.hash.empty())
        if (auto fetched = fetchedLately(state, spec)) {
            warnUnpinned(plan, fetched->narHash);
            return returnFound(state, v, *fetched);
        }

    std::optional<rust::Box<FetchLock>> lock;
    if (!plan.store_path.empty()) {
        auto model = storePathOf(store, plan.store_path);
        if (haveOrSubstitute(store, model.path))
            return returnModel(state, v, model, plan.hash, commitOf(store, model.path, plan.hash));
        lock = lockFetch(store, model.path, plan);
        if (store.isValidPath(model.path))
            return returnModel(state, v, model, plan.hash, commitOf(store, model.path, plan.hash));
    }

    auto [model, fetched] = fetchIntoStore(store, spec, plan);
    if (plan.hash.empty()) {
        nfm::remember_unpinned(spec, fetched);
        warnUnpinned(plan, fetched.nar_hash);
    }
    returnModel(state, v, model, fetched.nar_hash, std::string(fetched.commit));
}

void primFetchModel(EvalState & state, compat::PrimOpPos pos, Value ** args, Value & v)
{
    try {
        fetchModel(state, pos, *args[0], v);
    } catch (rust::Error & e) {
        compat::throwEvalError(state, pos, std::string("builtins.fetchModel: ") + e.what());
    } catch (std::invalid_argument &) { // what cxx throws for text that is not UTF-8
        compat::throwEvalError(state, pos,
            "builtins.fetchModel: the argument holds a string that is not UTF-8 text; fix its encoding");
    }
}

constexpr const char * doc = R"(
  Fetch a model repository (Hugging Face Hub) into the Nix store, laid out as one repo folder
  of the Hub cache, and return `{ outPath, narHash, commit, snapshot }`.

  ```nix
  builtins.fetchModel {
    source.huggingface = { repo = "sentence-transformers/all-MiniLM-L6-v2"; revision = "main"; };
    hash = "sha256-...";
  }
  ```

  With a `hash` whose store path is valid (or substitutable) no network is used. In pure
  evaluation mode `hash` is required. Provided by the nix-fetch-model plugin.
)";

} // namespace

void registerFetchModel()
{
    compat::registerPrimOp("__fetchModel", doc, primFetchModel);
}

} // namespace nfm
