// The version of the Nix that runs this process, read without binding any symbol of Nix's.
#pragma once

#include <stdbool.h>
#include <stddef.h>

// Writes the running Nix's version (e.g. "2.26.3") to `out`, or returns false if this process
// shows none, or one that is not a plain version (digits, letters and . _ + -).
bool running_nix_version(char * out, size_t size);
