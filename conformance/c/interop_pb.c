/* See interop_pb.h. Wire format: https://protobuf.dev/programming-guides/encoding/ */
#include "interop_pb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(pb_out_t *o, size_t extra) {
  size_t cap;
  if (o->len + extra <= o->cap) return;
  cap = o->cap ? o->cap : 64;
  while (cap < o->len + extra) cap *= 2;
  o->data = (uint8_t *)realloc(o->data, cap);
  if (o->data == NULL) {
    fprintf(stderr, "out of memory\n");
    abort();
  }
  o->cap = cap;
}

static void put_varint(pb_out_t *o, uint64_t v) {
  reserve(o, 10);
  while (v >= 0x80) {
    o->data[o->len++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  o->data[o->len++] = (uint8_t)v;
}

void pb_put_varint_field(pb_out_t *o, int field, uint64_t v) {
  if (v == 0) return; /* proto3 default: not on the wire */
  put_varint(o, ((uint64_t)field << 3) | 0);
  put_varint(o, v);
}

/* p == NULL writes n zero bytes. */
void pb_put_bytes_field(pb_out_t *o, int field, const void *p, size_t n) {
  put_varint(o, ((uint64_t)field << 3) | 2);
  put_varint(o, n);
  reserve(o, n);
  if (p) {
    memcpy(o->data + o->len, p, n);
  } else {
    memset(o->data + o->len, 0, n);
  }
  o->len += n;
}

void pb_put_message_field(pb_out_t *o, int field, const pb_out_t *sub) {
  pb_put_bytes_field(o, field, sub->data ? sub->data : (const uint8_t *)"", sub->len);
  free(sub->data);
}

void pb_free(pb_out_t *o) {
  free(o->data);
  o->data = NULL;
  o->len = o->cap = 0;
}

void pb_in_init(pb_in_t *in, const uint8_t *data, size_t len) {
  in->p = data;
  in->end = data + len;
  in->error = 0;
}

static int get_varint(pb_in_t *in, uint64_t *v) {
  int shift = 0;
  *v = 0;
  while (in->p < in->end && shift < 64) {
    uint8_t b = *in->p++;
    *v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return 1;
    shift += 7;
  }
  in->error = 1;
  return 0;
}

int pb_next(pb_in_t *in, pb_field_t *f) {
  while (in->p < in->end) {
    uint64_t key, n;
    if (!get_varint(in, &key)) return 0;
    f->number = (int)(key >> 3);
    f->wire_type = (int)(key & 7);
    f->data = NULL;
    f->len = 0;
    f->varint = 0;
    switch (f->wire_type) {
      case 0:
        if (!get_varint(in, &f->varint)) return 0;
        return 1;
      case 2:
        if (!get_varint(in, &n) || n > (uint64_t)(in->end - in->p)) {
          in->error = 1;
          return 0;
        }
        f->data = in->p;
        f->len = (size_t)n;
        in->p += n;
        return 1;
      case 1: /* fixed64: skipped */
        if (in->end - in->p < 8) {
          in->error = 1;
          return 0;
        }
        in->p += 8;
        break;
      case 5: /* fixed32: skipped */
        if (in->end - in->p < 4) {
          in->error = 1;
          return 0;
        }
        in->p += 4;
        break;
      default:
        in->error = 1;
        return 0;
    }
  }
  return 0;
}

/* ---- shared pieces ---- */

static void put_payload(pb_out_t *o, int field, size_t size) {
  pb_out_t p = {0};
  /* type COMPRESSABLE (0) is the default and not written */
  pb_put_bytes_field(&p, 2, NULL, size);
  pb_put_message_field(o, field, &p);
}

static void put_bool_value(pb_out_t *o, int field, const pb_bool_value_t *b) {
  pb_out_t sub = {0};
  if (!b->present) return;
  pb_put_varint_field(&sub, 1, b->value ? 1 : 0);
  pb_put_message_field(o, field, &sub);
}

static void put_echo_status(pb_out_t *o, int field, const pb_echo_status_t *s) {
  pb_out_t sub = {0};
  if (!s->present) return;
  pb_put_varint_field(&sub, 1, (uint64_t)(uint32_t)s->code);
  if (s->message_len) pb_put_bytes_field(&sub, 2, s->message, s->message_len);
  pb_put_message_field(o, field, &sub);
}

static int get_payload(const pb_field_t *f, const uint8_t **body, size_t *size) {
  pb_in_t in;
  pb_field_t g;
  *body = NULL;
  *size = 0;
  if (f->wire_type != 2) return -1;
  pb_in_init(&in, f->data, f->len);
  while (pb_next(&in, &g)) {
    if (g.number == 2 && g.wire_type == 2) {
      *body = g.data;
      *size = g.len;
    }
  }
  return in.error ? -1 : 0;
}

static int get_bool_value(const pb_field_t *f, pb_bool_value_t *b) {
  pb_in_t in;
  pb_field_t g;
  if (f->wire_type != 2) return -1;
  b->present = 1;
  b->value = 0;
  pb_in_init(&in, f->data, f->len);
  while (pb_next(&in, &g)) {
    if (g.number == 1 && g.wire_type == 0) b->value = g.varint != 0;
  }
  return in.error ? -1 : 0;
}

static int get_echo_status(const pb_field_t *f, pb_echo_status_t *s) {
  pb_in_t in;
  pb_field_t g;
  if (f->wire_type != 2) return -1;
  memset(s, 0, sizeof(*s));
  s->present = 1;
  pb_in_init(&in, f->data, f->len);
  while (pb_next(&in, &g)) {
    if (g.number == 1 && g.wire_type == 0) s->code = (int32_t)g.varint;
    if (g.number == 2 && g.wire_type == 2) {
      s->message = g.data;
      s->message_len = g.len;
    }
  }
  return in.error ? -1 : 0;
}

/* ---- messages ---- */

void encode_simple_request(const simple_request_t *m, pb_out_t *out) {
  pb_put_varint_field(out, 1, (uint64_t)(uint32_t)m->response_type);
  pb_put_varint_field(out, 2, (uint64_t)(uint32_t)m->response_size);
  if (m->has_payload) put_payload(out, 3, m->payload_size);
  pb_put_varint_field(out, 4, m->fill_username ? 1 : 0);
  pb_put_varint_field(out, 5, m->fill_oauth_scope ? 1 : 0);
  put_bool_value(out, 6, &m->response_compressed);
  put_echo_status(out, 7, &m->response_status);
  put_bool_value(out, 8, &m->expect_compressed);
}

int decode_simple_request(const uint8_t *data, size_t len, simple_request_t *m) {
  pb_in_t in;
  pb_field_t f;
  memset(m, 0, sizeof(*m));
  pb_in_init(&in, data, len);
  while (pb_next(&in, &f)) {
    int rc = 0;
    switch (f.number) {
      case 1: m->response_type = (int32_t)f.varint; break;
      case 2: m->response_size = (int32_t)f.varint; break;
      case 3:
        m->has_payload = 1;
        rc = get_payload(&f, &m->payload_body, &m->payload_size);
        break;
      case 4: m->fill_username = f.varint != 0; break;
      case 5: m->fill_oauth_scope = f.varint != 0; break;
      case 6: rc = get_bool_value(&f, &m->response_compressed); break;
      case 7: rc = get_echo_status(&f, &m->response_status); break;
      case 8: rc = get_bool_value(&f, &m->expect_compressed); break;
      default: break;
    }
    if (rc) return -1;
  }
  return in.error ? -1 : 0;
}

void encode_simple_response(const simple_response_t *m, pb_out_t *out) {
  if (m->has_payload) put_payload(out, 1, m->payload_size);
  if (m->username_len) pb_put_bytes_field(out, 2, m->username, m->username_len);
}

int decode_simple_response(const uint8_t *data, size_t len, simple_response_t *m) {
  pb_in_t in;
  pb_field_t f;
  memset(m, 0, sizeof(*m));
  pb_in_init(&in, data, len);
  while (pb_next(&in, &f)) {
    if (f.number == 1) {
      m->has_payload = 1;
      if (get_payload(&f, &m->payload_body, &m->payload_size)) return -1;
    } else if (f.number == 2 && f.wire_type == 2) {
      m->username = f.data;
      m->username_len = f.len;
    }
  }
  return in.error ? -1 : 0;
}

void encode_streaming_input_request(const streaming_input_request_t *m, pb_out_t *out) {
  if (m->has_payload) put_payload(out, 1, m->payload_size);
  put_bool_value(out, 2, &m->expect_compressed);
}

int decode_streaming_input_request(const uint8_t *data, size_t len,
                                   streaming_input_request_t *m) {
  pb_in_t in;
  pb_field_t f;
  memset(m, 0, sizeof(*m));
  pb_in_init(&in, data, len);
  while (pb_next(&in, &f)) {
    if (f.number == 1) {
      m->has_payload = 1;
      if (get_payload(&f, &m->payload_body, &m->payload_size)) return -1;
    } else if (f.number == 2) {
      if (get_bool_value(&f, &m->expect_compressed)) return -1;
    }
  }
  return in.error ? -1 : 0;
}

void encode_streaming_input_response(int32_t aggregated_payload_size, pb_out_t *out) {
  pb_put_varint_field(out, 1, (uint64_t)(uint32_t)aggregated_payload_size);
}

int decode_streaming_input_response(const uint8_t *data, size_t len, int32_t *aggregated) {
  pb_in_t in;
  pb_field_t f;
  *aggregated = 0;
  pb_in_init(&in, data, len);
  while (pb_next(&in, &f)) {
    if (f.number == 1 && f.wire_type == 0) *aggregated = (int32_t)f.varint;
  }
  return in.error ? -1 : 0;
}

void encode_streaming_output_request(const streaming_output_request_t *m, pb_out_t *out) {
  size_t i;
  pb_put_varint_field(out, 1, (uint64_t)(uint32_t)m->response_type);
  for (i = 0; i < m->n_params; i++) {
    pb_out_t p = {0};
    pb_put_varint_field(&p, 1, (uint64_t)(uint32_t)m->params[i].size);
    pb_put_varint_field(&p, 2, (uint64_t)(uint32_t)m->params[i].interval_us);
    put_bool_value(&p, 3, &m->params[i].compressed);
    pb_put_message_field(out, 2, &p);
  }
  if (m->has_payload) put_payload(out, 3, m->payload_size);
  put_echo_status(out, 7, &m->response_status);
}

int decode_streaming_output_request(const uint8_t *data, size_t len,
                                    streaming_output_request_t *m) {
  pb_in_t in;
  pb_field_t f;
  memset(m, 0, sizeof(*m));
  pb_in_init(&in, data, len);
  while (pb_next(&in, &f)) {
    if (f.number == 1 && f.wire_type == 0) {
      m->response_type = (int32_t)f.varint;
    } else if (f.number == 2 && f.wire_type == 2) {
      pb_in_t pin;
      pb_field_t g;
      response_parameters_t *p;
      if (m->n_params >= PB_MAX_RESPONSE_PARAMETERS) return -1;
      p = &m->params[m->n_params++];
      pb_in_init(&pin, f.data, f.len);
      while (pb_next(&pin, &g)) {
        if (g.number == 1 && g.wire_type == 0) p->size = (int32_t)g.varint;
        if (g.number == 2 && g.wire_type == 0) p->interval_us = (int32_t)g.varint;
        if (g.number == 3 && get_bool_value(&g, &p->compressed)) return -1;
      }
      if (pin.error) return -1;
    } else if (f.number == 3) {
      m->has_payload = 1;
      if (get_payload(&f, &m->payload_body, &m->payload_size)) return -1;
    } else if (f.number == 7) {
      if (get_echo_status(&f, &m->response_status)) return -1;
    }
  }
  return in.error ? -1 : 0;
}

void encode_streaming_output_response(size_t payload_size, pb_out_t *out) {
  put_payload(out, 1, payload_size);
}

int decode_streaming_output_response(const uint8_t *data, size_t len, const uint8_t **body,
                                     size_t *body_len) {
  pb_in_t in;
  pb_field_t f;
  *body = NULL;
  *body_len = 0;
  pb_in_init(&in, data, len);
  while (pb_next(&in, &f)) {
    if (f.number == 1 && get_payload(&f, body, body_len)) return -1;
  }
  return in.error ? -1 : 0;
}
