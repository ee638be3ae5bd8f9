/* See interop_common.h. */
#include "interop_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_bool(const char *name, const char *v) {
  if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) return 1;
  if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) return 0;
  fprintf(stderr, "bad boolean for --%s: %s\n", name, v);
  exit(2);
}

void parse_flags(int argc, char **argv, const flag_t *flags, size_t n) {
  int i = 1;
  while (i < argc) {
    const char *arg = argv[i++];
    const char *eq, *value;
    size_t name_len, k;
    const flag_t *f = NULL;
    if (strncmp(arg, "--", 2) != 0) {
      fprintf(stderr, "unexpected argument: %s\n", arg);
      exit(2);
    }
    arg += 2;
    eq = strchr(arg, '=');
    name_len = eq ? (size_t)(eq - arg) : strlen(arg);
    for (k = 0; k < n; k++) {
      if (strlen(flags[k].name) == name_len && strncmp(flags[k].name, arg, name_len) == 0) {
        f = &flags[k];
      }
    }
    if (f == NULL) {
      fprintf(stderr, "unknown flag: --%.*s\n", (int)name_len, arg);
      exit(2);
    }
    if (f->type == FLAG_BOOL) {
      *(int *)f->value = eq ? parse_bool(f->name, eq + 1) : 1;
      continue;
    }
    if (eq) {
      value = eq + 1;
    } else {
      if (i >= argc) {
        fprintf(stderr, "missing value for --%s\n", f->name);
        exit(2);
      }
      value = argv[i++];
    }
    if (f->type == FLAG_INT) {
      *(int *)f->value = atoi(value);
    } else {
      *(const char **)f->value = value;
    }
  }
}

const char *default_cert_dir(void) {
  const char *env = getenv("POLYRPC_TEST_CERTS");
  if (env && *env) return env;
  return POLYRPC_SOURCE_DIR "/build/certs";
}

char *read_file_in(const char *dir, const char *name) {
  char path[4096];
  FILE *f;
  long len;
  char *text;
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  f = fopen(path, "rb");
  if (f == NULL) return NULL;
  if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return NULL;
  }
  text = (char *)malloc((size_t)len + 1);
  if (text == NULL || fread(text, 1, (size_t)len, f) != (size_t)len) {
    free(text);
    fclose(f);
    return NULL;
  }
  text[len] = '\0';
  fclose(f);
  return text;
}

polyrpc_error_t pack_message(const ProtobufCMessage *m, polyrpc_buffer_t **out) {
  size_t len = protobuf_c_message_get_packed_size(m);
  uint8_t *data = (uint8_t *)malloc(len ? len : 1);
  polyrpc_error_t err;
  *out = NULL;
  if (data == NULL) return POLYRPC_ERROR_NO_MEMORY;
  protobuf_c_message_pack(m, data);
  err = polyrpc_buffer_create_wrap(data, len, free, data, out);
  if (err != POLYRPC_OK) free(data); /* free_fn is not called when wrapping fails */
  return err;
}

ProtobufCMessage *unpack_message(const ProtobufCMessageDescriptor *d, const polyrpc_buffer_t *buf) {
  const uint8_t *data = NULL;
  size_t len = 0;
  if (buf == NULL || polyrpc_buffer_data(buf, &data, &len) != POLYRPC_OK) return NULL;
  return protobuf_c_message_unpack(d, NULL, len, data);
}

uint8_t *alloc_zeros(size_t n) { return (uint8_t *)calloc(n ? n : 1, 1); }
