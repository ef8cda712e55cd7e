// The file that plugin-files names, safe to load into any Nix: it has no link-time dependency on
// Nix. When Nix loads it, it reads the running Nix's version and loads the plugin's build for
// exactly that version (builds.h says where). Without one, it prints one warning and adds
// nothing, so that Nix runs on without builtins.fetchModel.
//
// A build registers the builtin from its static initialisers (Nix before 2.22), which run when
// it is loaded here, or from its nix_plugin_entry (Nix 2.22 and newer), which Nix looks up in
// the file it loaded, this one: ours calls the build's.
#define _GNU_SOURCE
#include "builds.h"
#include "running-nix.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#define WARNING "warning: nix-fetch-model: "
#define UNAVAILABLE "; builtins.fetchModel is not available. "
#define REBUILD "Rebuild it against Nix %s (see 'Building' in the nix-fetch-model README), or remove it from plugin-files.\n"

static void (*build_entry)(void);

static void load_build(const char * version)
{
    char folder[PATH_MAX], build[PATH_MAX], versions[1024];
    if (!builds_folder(folder, sizeof folder)) {
        fprintf(stderr, WARNING "cannot find its own file, and so not its builds" UNAVAILABLE
            "Please report this bug, and remove it from plugin-files meanwhile.\n");
        return;
    }
    if (!build_path(build, sizeof build, folder, version) || access(build, F_OK) != 0) {
        list_build_versions(versions, sizeof versions, folder);
        fprintf(stderr, WARNING "this plugin has no build for Nix %s (it has %s%s) in %s/" UNAVAILABLE REBUILD,
            version, versions[0] ? "builds for: " : "no builds", versions, folder, version);
        return;
    }
    // RTLD_NOW: a symbol this Nix lacks fails here, not in the middle of an evaluation.
    void * handle = dlopen(build, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        fprintf(stderr, WARNING "cannot load its build for Nix %s: %s" UNAVAILABLE REBUILD, version, dlerror(), version);
        return;
    }
    *(void **) &build_entry = dlsym(handle, "nix_plugin_entry");
}

__attribute__((constructor)) static void load(void)
{
    char version[64];
    if (running_nix_version(version, sizeof version))
        load_build(version);
    else
        fprintf(stderr, WARNING "cannot tell which Nix version loads this plugin (this process has neither "
            "nix_version_get nor nix::nixVersion: a statically linked Nix, or one built without GCC's libstdc++)"
            UNAVAILABLE "Use a Nix linked with shared libraries, or remove it from plugin-files.\n");
}

__attribute__((visibility("default"))) void nix_plugin_entry(void)
{
    if (build_entry != NULL)
        build_entry();
}
