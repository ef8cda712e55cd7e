// Looked up at run time with dlsym, so that no Nix is needed to load this file:
// - nix_version_get, the C API's version function, exported by the binaries of Nix 2.35 and newer;
// - nix::nixVersion, a std::string in libnixstore (Nix 2.8 to 2.35, which `nix` links), read in
//   the layout of libstdc++'s C++11 ABI: a pointer to the characters, then their count.
#define _GNU_SOURCE
#include "running-nix.h"

#include <dlfcn.h>
#include <string.h>

struct cxx11_string {
    const char * data;
    size_t size;
};

static bool copy_plain_version(char * out, size_t size, const char * version, size_t length)
{
    if (version == NULL || length == 0 || length >= size)
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = version[i];
        bool plain = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || c == '.' || c == '_' || c == '+' || c == '-';
        if (!plain)
            return false;
    }
    memcpy(out, version, length);
    out[length] = '\0';
    return true;
}

bool running_nix_version(char * out, size_t size)
{
    const char * (*version_get)(void);
    *(void **) &version_get = dlsym(RTLD_DEFAULT, "nix_version_get");
    if (version_get != NULL) {
        const char * version = version_get();
        if (version != NULL && copy_plain_version(out, size, version, strlen(version)))
            return true;
    }
    const struct cxx11_string * nix_version = dlsym(RTLD_DEFAULT, "_ZN3nix10nixVersionB5cxx11E");
    return nix_version != NULL && copy_plain_version(out, size, nix_version->data, nix_version->size);
}
