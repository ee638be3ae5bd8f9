// CHECK for the C ABI targets (capi_input, capi_json): a property the input broke aborts,
// which libFuzzer reports as a crash and saves the input, with the library's last error.
#pragma once

#include <polyrpc/polyrpc.h>

#include <cstdio>
#include <cstdlib>

#define CHECK(cond)                                                                \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      fprintf(stderr, "%s:%d: check failed: %s (%s)\n", __FILE__, __LINE__, #cond, \
              polyrpc_last_error());                                               \
      abort();                                                                     \
    }                                                                              \
  } while (0)
