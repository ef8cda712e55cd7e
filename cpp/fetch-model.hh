#pragma once

namespace nfm {

// Adds builtins.fetchModel to every EvalState created from now on.
void registerFetchModel();

}
