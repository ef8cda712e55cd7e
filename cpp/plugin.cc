// The plugin's entry: register builtins.fetchModel when the running Nix is the one it was built for.
// The loader (loader/) loads this build only into that Nix. The check here is for a build named in
// plugin-files directly (or renamed) that links into another Nix, such as another patch release, and
// for a Nix whose nixVersion differs from the version the loader read (nix_version_get, 2.35+).
#include "compat.hh"
#include "fetch-model.hh"

#include <cstdio>

namespace {

bool builtForRunningNix()
{
    if (nix::nixVersion == NFM_NIX_VERSION)
        return true;
    // Not Nix's logger: its layout may differ in another Nix version.
    std::fprintf(stderr,
        "warning: nix-fetch-model: this plugin was built for Nix %s but is loaded into Nix %s; "
        "builtins.fetchModel is not available. Rebuild the plugin against Nix %s "
        "(meson setup with that Nix's pkg-config files, see 'Building' in the README).\n",
        NFM_NIX_VERSION, nix::nixVersion.c_str(), nix::nixVersion.c_str());
    return false;
}

void registerIfCompatible()
{
    if (builtForRunningNix())
        nfm::registerFetchModel();
}

} // namespace

#if NFM_HAS_PLUGIN_ENTRY
extern "C" __attribute__((visibility("default"))) void nix_plugin_entry()
{
    registerIfCompatible();
}
#else
[[maybe_unused]] static const bool registered = (registerIfCompatible(), true);
#endif
