// Where the loader finds the plugin's builds, one for each Nix version:
//
//   <prefix>/lib/nix/plugins/libnix_fetch_model.so                 the loader (this library)
//   <prefix>/lib/nix/nix-fetch-model/libnix_fetch_model-<version>.so   a build for Nix <version>
//
// The builds are not in the loader's folder, nor in a folder inside it: Nix loads every entry of
// a folder named in plugin-files, and fails on a folder or on a build for another Nix.
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define BUILDS_FOLDER "nix-fetch-model"
#define BUILD_PREFIX "libnix_fetch_model-"
#define BUILD_SUFFIX ".so"

// Writes the folder of the builds to `out`: ../nix-fetch-model from the loader's folder as Nix
// named it (a profile that joins several installs links their builds there), or else from the
// folder of the file it links to (a symlink to the loader alone). False if the loader cannot find
// its own file.
bool builds_folder(char * out, size_t size);

// Writes the path of the build for Nix `version` in `folder` to `out`; false if too long.
bool build_path(char * out, size_t size, const char * folder, const char * version);

// Writes the versions that have a build in `folder`, in version order ("2.8.0, 2.26.3"), to `out`;
// "" if there are none.
void list_build_versions(char * out, size_t size, const char * folder);
