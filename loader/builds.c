#define _GNU_SOURCE
#include "builds.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LISTED 64

bool builds_folder(char * out, size_t size)
{
    Dl_info self;
    if (dladdr((void *) &builds_folder, &self) == 0 || self.dli_fname == NULL)
        return false;
    char * loader = realpath(self.dli_fname, NULL);
    if (loader == NULL)
        return false;
    // <prefix>/lib/nix/plugins/libnix_fetch_model.so -> <prefix>/lib/nix
    for (int up = 0; up < 2; up++) {
        char * slash = strrchr(loader, '/');
        if (slash != NULL)
            *slash = '\0';
    }
    int written = snprintf(out, size, "%s/%s", loader, BUILDS_FOLDER);
    free(loader);
    return written > 0 && (size_t) written < size;
}

bool build_path(char * out, size_t size, const char * folder, const char * version)
{
    int written = snprintf(out, size, "%s/%s%s%s", folder, BUILD_PREFIX, version, BUILD_SUFFIX);
    return written > 0 && (size_t) written < size;
}

// The version in a build's file name, or NULL if `name` is not one.
static char * version_of_build(const char * name)
{
    size_t length = strlen(name), prefix = strlen(BUILD_PREFIX), suffix = strlen(BUILD_SUFFIX);
    if (length <= prefix + suffix || strncmp(name, BUILD_PREFIX, prefix) != 0
        || strcmp(name + length - suffix, BUILD_SUFFIX) != 0)
        return NULL;
    return strndup(name + prefix, length - prefix - suffix);
}

static int by_version(const void * a, const void * b)
{
    return strverscmp(*(char * const *) a, *(char * const *) b);
}

void list_build_versions(char * out, size_t size, const char * folder)
{
    char * versions[MAX_LISTED];
    size_t count = 0;
    DIR * dir = opendir(folder);
    if (dir != NULL) {
        struct dirent * entry;
        while (count < MAX_LISTED && (entry = readdir(dir)) != NULL) {
            char * version = version_of_build(entry->d_name);
            if (version != NULL)
                versions[count++] = version;
        }
        closedir(dir);
    }
    qsort(versions, count, sizeof versions[0], by_version);
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        if (used < size)
            used += (size_t) snprintf(out + used, size - used, "%s%s", i == 0 ? "" : ", ", versions[i]);
        free(versions[i]);
    }
}
