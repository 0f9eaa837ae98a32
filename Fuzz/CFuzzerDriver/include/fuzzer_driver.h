// libFuzzer's entry point for programs that keep their own main (compiler-rt FuzzerInterface.h);
// the harnesses are linked with -sanitize=fuzzer, which provides it.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*test_one_input)(const uint8_t *data, size_t size));
