/* Preloaded before libasan into interpreters that dlopen extensions with RTLD_DEEPBIND (PHP 8.2
 * does, for every extension): ASan refuses that flag and kills the process (google/sanitizers
 * #611). This dlopen drops the flag and passes the call on to the next dlopen, ASan's.
 * tools/sanitize-check.sh builds and preloads it for the SWIG smoke tests only; the extension
 * then binds its symbols as any library does, which is what the smoke test needs. */
#define _GNU_SOURCE
#include <dlfcn.h>

void *dlopen(const char *file, int mode) {
  static void *(*next)(const char *, int);
  if (!next) next = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
  return next(file, mode & ~RTLD_DEEPBIND);
}
