#define _GNU_SOURCE
#include "builds.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_LISTED 64

// Writes <folder of `loader`>/../nix-fetch-model to `out`, without symlinks, . or .. in it.
static bool builds_folder_beside(char * out, size_t size, const char * loader)
{
    const char * slash = strrchr(loader, '/');
    int folder_length = slash == NULL ? 0 : (int) (slash - loader + 1);
    char parent[PATH_MAX];
    int written = snprintf(parent, sizeof parent, "%.*s..", folder_length, loader);
    if (written <= 0 || (size_t) written >= sizeof parent)
        return false;
    char * canonical = realpath(parent, NULL);
    if (canonical == NULL)
        return false;
    written = snprintf(out, size, "%s/%s", strcmp(canonical, "/") == 0 ? "" : canonical, BUILDS_FOLDER);
    free(canonical);
    return written > 0 && (size_t) written < size;
}

static bool is_folder(const char * path)
{
    struct stat status;
    return stat(path, &status) == 0 && S_ISDIR(status.st_mode);
}

bool builds_folder(char * out, size_t size)
{
    static const char in_the_loader = 0;
    Dl_info self;
    if (dladdr(&in_the_loader, &self) == 0 || self.dli_fname == NULL)
        return false;
    if (builds_folder_beside(out, size, self.dli_fname) && is_folder(out))
        return true;
    char * loader = realpath(self.dli_fname, NULL);
    bool found = loader != NULL && builds_folder_beside(out, size, loader);
    free(loader);
    return found;
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
