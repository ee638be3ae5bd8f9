/* A tiny protobuf codec for the few grpc.testing messages the C interop programs need
 * (grpc/testing/messages.proto), so that they depend on nothing but the polyrpc C API.
 * Encoders append to a growable byte string; decoders read in place and skip unknown fields. */
#ifndef POLYRPC_INTEROP_PB_H
#define POLYRPC_INTEROP_PB_H

#include <stddef.h>
#include <stdint.h>

/* ---- encoding ---- */
typedef struct pb_out {
  uint8_t *data; /* malloc'ed; ownership moves to whoever takes it */
  size_t len, cap;
} pb_out_t;

void pb_put_varint_field(pb_out_t *o, int field, uint64_t v);     /* skipped when v == 0 */
void pb_put_bytes_field(pb_out_t *o, int field, const void *p, size_t n);
void pb_put_message_field(pb_out_t *o, int field, const pb_out_t *sub); /* sub is freed */
void pb_free(pb_out_t *o);

/* ---- decoding ---- */
typedef struct pb_field {
  int number;
  int wire_type; /* 0 varint, 2 length-delimited; others are skipped by pb_next */
  uint64_t varint;
  const uint8_t *data;
  size_t len;
} pb_field_t;

typedef struct pb_in {
  const uint8_t *p, *end;
  int error;
} pb_in_t;

void pb_in_init(pb_in_t *in, const uint8_t *data, size_t len);
/* Returns 1 and the next field, or 0 at the end (in->error set if the input was malformed). */
int pb_next(pb_in_t *in, pb_field_t *f);

/* ---- the messages ---- */
typedef struct pb_bool_value {
  int present;
  int value;
} pb_bool_value_t;

typedef struct pb_echo_status {
  int present;
  int32_t code;
  const uint8_t *message; /* borrowed from the decoded bytes */
  size_t message_len;
} pb_echo_status_t;

/* Payload bodies are given by size only when encoding (the interop tests always send zeros);
 * decoders borrow the body. */
typedef struct simple_request {
  int32_t response_type;
  int32_t response_size;
  int has_payload;
  size_t payload_size;           /* encode: zeros of this size */
  const uint8_t *payload_body;   /* decode */
  int fill_username, fill_oauth_scope;
  pb_bool_value_t response_compressed;
  pb_echo_status_t response_status;
  pb_bool_value_t expect_compressed;
} simple_request_t;

typedef struct simple_response {
  int has_payload;
  const uint8_t *payload_body;
  size_t payload_size;
  const uint8_t *username;
  size_t username_len;
} simple_response_t;

typedef struct streaming_input_request {
  int has_payload;
  size_t payload_size;
  const uint8_t *payload_body;
  pb_bool_value_t expect_compressed;
} streaming_input_request_t;

#define PB_MAX_RESPONSE_PARAMETERS 64
typedef struct response_parameters {
  int32_t size;
  int32_t interval_us;
  pb_bool_value_t compressed;
} response_parameters_t;

typedef struct streaming_output_request {
  int32_t response_type;
  size_t n_params;
  response_parameters_t params[PB_MAX_RESPONSE_PARAMETERS];
  int has_payload;
  size_t payload_size;
  const uint8_t *payload_body;
  pb_echo_status_t response_status;
} streaming_output_request_t;

/* Encoders: fill *out (caller frees out->data, or hands it to polyrpc_buffer_create_wrap). */
void encode_simple_request(const simple_request_t *m, pb_out_t *out);
void encode_simple_response(const simple_response_t *m, pb_out_t *out);
void encode_streaming_input_request(const streaming_input_request_t *m, pb_out_t *out);
void encode_streaming_input_response(int32_t aggregated_payload_size, pb_out_t *out);
void encode_streaming_output_request(const streaming_output_request_t *m, pb_out_t *out);
/* StreamingOutputCallResponse { payload { type, body = size zeros } } */
void encode_streaming_output_response(size_t payload_size, pb_out_t *out);

/* Decoders: return 0 on success, -1 on malformed input. Pointers borrow from data. */
int decode_simple_request(const uint8_t *data, size_t len, simple_request_t *m);
int decode_simple_response(const uint8_t *data, size_t len, simple_response_t *m);
int decode_streaming_input_request(const uint8_t *data, size_t len,
                                   streaming_input_request_t *m);
int decode_streaming_input_response(const uint8_t *data, size_t len, int32_t *aggregated);
int decode_streaming_output_request(const uint8_t *data, size_t len,
                                    streaming_output_request_t *m);
/* StreamingOutputCallResponse: the payload body. */
int decode_streaming_output_response(const uint8_t *data, size_t len, const uint8_t **body,
                                     size_t *body_len);

#endif /* POLYRPC_INTEROP_PB_H */
