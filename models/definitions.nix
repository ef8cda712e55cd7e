# The model registry: the flake's models.<system>.<name> is fetchModel of each entry.
# An entry goes in only with a hash that was really obtained (a build that printed
# `got: sha256-...`, or `nix-fetch-model prefetch`), never a guessed one. No real Hub entry
# has been pinned from this project's machine yet (it cannot reach huggingface.co).
{
  # TEST FIXTURE, not a real model: fake-org/tiny-model of tests/support/fixtures as served
  # by tests/support/fake_hub.py; build it with HF_ENDPOINT set to that fake Hub. Its hash was
  # obtained by building it (tests/nix/lib/run.sh checks it again on every run).
  fake-org-tiny-model = {
    source.huggingface.repo = "fake-org/tiny-model";
    hash = "sha256-5LSwL82AsZAzrgm4zU2+sg87S0/sNuEPum570SkugQs=";
    meta.testFixture = true;
  };
}
