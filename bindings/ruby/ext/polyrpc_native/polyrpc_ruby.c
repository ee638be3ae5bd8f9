/* polyrpc_ruby.c - the hand-written part of the Ruby wrapper: what SWIG cannot express.
 *
 * Every wait of the C ABI runs here without the GVL (rb_thread_call_without_gvl2), with an
 * unblocking function that ends it from another thread: a queue wait is woken with
 * polyrpc_cq_wake(), a blocking call operation is ended with polyrpc_call_cancel() (which also
 * cancels the call on the wire). So other Ruby threads run while a call waits, and Thread#raise,
 * Thread#kill and Ctrl-C (the main thread's interrupt) end a wait at once; the interrupt is then
 * raised by the VM when the method returns. rb_thread_call_without_gvl2 does not start a wait
 * while interrupts are pending (a time slice that ran out is one): they are processed and the
 * wait is tried again, and only an interrupt that raises ends the operation (and its call). Messages cross as Strings, copied in and out inside
 * the function, so an interrupt never strands a native buffer.
 *
 * This file is not compiled on its own: polyrpc.i includes it into the SWIG-generated wrapper
 * (it uses SWIG's pointer conversion and the type descriptors of the opaque handles) and its
 * methods join PolyRPC::Native:
 *
 *   cq_next_nogvl(cq, timeout_ms)          -> [type, tag, success]
 *   call_unary_nogvl(call, request)        -> response String, or nil (read the status)
 *   call_read_nogvl(call)                  -> message String, or nil at the end
 *   call_write_nogvl(call, message, flags) -> true, or false if the call ended first
 *   call_close_send_nogvl(call)            -> true, or false
 *   call_recv_initial_metadata_nogvl(call) -> true, or false (the call ended without any)
 *   call_recv_status_nogvl(call)           -> nil, once the status is known
 *   server_shutdown_nogvl(server, timeout_ms), shutdown_nogvl(timeout_ms),
 *   channel_close_nogvl(channel)           -> nil (bounded waits: no unblocking function)
 *
 * and what the idiomatic layer (lib/polyrpc) calls on every RPC, one native call instead of
 * several (metadata crosses as a Hash: key => String, or Array of Strings for repeated keys):
 *
 *   call_create_md(channel, method, timeout_ms, metadata, flags) -> call (metadata: Hash or nil;
 *                                          an invalid key or value is an ArgumentError/TypeError)
 *   call_unary_status_nogvl(call, request) -> [response or nil, code, details]
 *   client_unary_nogvl(channel, method, timeout_ms, metadata, flags, request)
 *                                          -> [response or nil, code, details, trailers or nil]
 *                                          (a whole unary call; the call is destroyed)
 *   call_status_array(call)                -> [code, details] (once the status is known)
 *   call_metadata_hash(call, which)        -> Hash (which: 0 initial, 1 trailing, 2 request)
 *   call_read_flags_nogvl(call)            -> [message, compressed] or nil at the end
 *   call_send_initial_metadata_nogvl(call, metadata)           -> true, or false
 *   call_send_status_nogvl(call, code, details, trailers)      -> true, or false
 *   call_respond_nogvl(call, message, flags, code, details, trailers) -> true, or false
 *                                          (server: one message and the status, one native call)
 *   server_next_call_nogvl(server, cq, tag, request, read_first) -> [result, call, method, msg, c]
 *   call_respond_async(call, cq, initial_md, message, flags, code, details, trailers) -> nil
 *                                          (a server thread's call: received in one wait,
 *                                          answered without any; see their comments)
 *   MethodSet.new(paths)                   (the methods whose request comes with the call)
 *   waits_in_flight                        -> true while (or shortly after) other threads wait
 *                                             in calls: then calls go without busy polling
 */
#include <ruby/thread.h>

typedef struct {
  polyrpc_error_t err;
  polyrpc_cq_t *cq;
  polyrpc_call_t *call;
  polyrpc_server_t *server;
  polyrpc_channel_t *channel;
  polyrpc_buffer_t *buf;
  polyrpc_buffer_t *out;
  polyrpc_event_t event;
  int timeout_ms;
  int64_t timeout64;
  uint32_t flags;
  int ok;
  void *(*fn)(void *); /* the wait, run by polyrpc_rb_trampoline */
  int ran;             /* fn ran (it does not when interrupts were pending) */
  int jump;            /* an interrupt raised while retrying: re-raised after cleanup */
} polyrpc_rb_wait_t;

static void *polyrpc_rb_trampoline(void *p);

static void *polyrpc_rb_cq_next_fn(void *p) {
  polyrpc_rb_wait_t *w = (polyrpc_rb_wait_t *)p;
  w->err = polyrpc_cq_next(w->cq, w->timeout_ms, &w->event);
  return NULL;
}
static void polyrpc_rb_wake_cq(void *p) { (void)polyrpc_cq_wake(((polyrpc_rb_wait_t *)p)->cq); }
static void polyrpc_rb_cancel_call(void *p) {
  (void)polyrpc_call_cancel(((polyrpc_rb_wait_t *)p)->call);
}

static void *polyrpc_rb_unary_fn(void *p) {
  polyrpc_rb_wait_t *w = (polyrpc_rb_wait_t *)p;
  w->err = polyrpc_call_unary(w->call, w->buf, &w->out);
  return NULL;
}
static void *polyrpc_rb_read_fn(void *p) {
  polyrpc_rb_wait_t *w = (polyrpc_rb_wait_t *)p;
  w->err = polyrpc_call_read(w->call, &w->out);
  return NULL;
}
static void *polyrpc_rb_write_fn(void *p) {
  polyrpc_rb_wait_t *w = (polyrpc_rb_wait_t *)p;
  w->err = polyrpc_call_write(w->call, w->buf, w->flags, &w->ok);
  return NULL;
}
static void *polyrpc_rb_close_send_fn(void *p) {
  polyrpc_rb_wait_t *w = (polyrpc_rb_wait_t *)p;
  w->err = polyrpc_call_close_send(w->call, NULL, NULL);
  /* Blocking close_send reports a call that ended first as CLOSED: a result here. */
  w->ok = w->err == POLYRPC_OK;
  if (w->err == POLYRPC_ERROR_CLOSED) w->err = POLYRPC_OK;
  return NULL;
}
static void *polyrpc_rb_initial_md_fn(void *p) {
  polyrpc_rb_wait_t *w = (polyrpc_rb_wait_t *)p;
  w->err = polyrpc_call_recv_initial_metadata(w->call, NULL, NULL);
  w->ok = w->err == POLYRPC_OK;
  if (w->err == POLYRPC_ERROR_CLOSED) w->err = POLYRPC_OK;
  return NULL;
}
static void *polyrpc_rb_status_fn(void *p) {
  polyrpc_rb_wait_t *w = (polyrpc_rb_wait_t *)p;
  w->err = polyrpc_call_recv_status(w->call, NULL, NULL);
  return NULL;
}
static void *polyrpc_rb_server_shutdown_fn(void *p) {
  polyrpc_rb_wait_t *w = (polyrpc_rb_wait_t *)p;
  w->err = polyrpc_server_shutdown(w->server, w->timeout64);
  return NULL;
}
static void *polyrpc_rb_shutdown_fn(void *p) {
  polyrpc_rb_wait_t *w = (polyrpc_rb_wait_t *)p;
  w->err = polyrpc_shutdown(w->timeout64);
  return NULL;
}

static void *polyrpc_rb_unwrap(VALUE obj, swig_type_info *type, const char *what) {
  void *ptr = NULL;
  if (!SWIG_IsOK(SWIG_ConvertPtr(obj, &ptr, type, 0))) {
    rb_raise(rb_eTypeError, "expected %s", what);
  }
  return ptr;
}

/* Copies a String into a new buffer (with the GVL). */
static polyrpc_buffer_t *polyrpc_rb_buffer_from(VALUE str) {
  polyrpc_buffer_t *buf = NULL;
  polyrpc_error_t err;
  StringValue(str);
  err = polyrpc_buffer_create_copy((const uint8_t *)RSTRING_PTR(str), (size_t)RSTRING_LEN(str),
                                   &buf);
  if (err < 0) polyrpc_rb_raise(err);
  return buf;
}

/* The bytes of buf as a binary String, and buf released. */
static VALUE polyrpc_rb_take_string(polyrpc_buffer_t *buf) {
  const uint8_t *data = NULL;
  size_t len = 0;
  VALUE s;
  if (buf == NULL) return Qnil;
  (void)polyrpc_buffer_data(buf, &data, &len);
  s = rb_str_new((const char *)data, (long)len);
  polyrpc_buffer_destroy(buf);
  return s;
}

static VALUE polyrpc_rb_cq_next_nogvl(VALUE self, VALUE cq, VALUE timeout_ms) {
  polyrpc_rb_wait_t w;
  VALUE a;
  (void)self;
  memset(&w, 0, sizeof w);
  w.cq = (polyrpc_cq_t *)polyrpc_rb_unwrap(cq, SWIGTYPE_p_polyrpc_cq, "a completion queue");
  w.timeout_ms = NUM2INT(timeout_ms);
  w.event.struct_size = sizeof w.event;
  w.fn = polyrpc_rb_cq_next_fn;
  for (;;) {
    w.err = POLYRPC_OK;
    w.ran = 0;
    rb_thread_call_without_gvl2(polyrpc_rb_trampoline, &w, polyrpc_rb_wake_cq, &w);
    if (w.ran) break;
    /* Interrupts were pending (a time slice that ran out is one): process them, which raises
     * for Thread#raise and the like (nothing is held yet), and wait again. */
    rb_thread_check_ints();
  }
  if (w.err < 0) polyrpc_rb_raise(w.err);
  a = rb_ary_new_capa(3);
  rb_ary_push(a, INT2NUM((int)w.event.type));
  rb_ary_push(a, ULL2NUM((unsigned long long)(uintptr_t)w.event.tag));
  rb_ary_push(a, INT2NUM(w.event.success));
  return a;
}

static void *polyrpc_rb_trampoline(void *p) {
  polyrpc_rb_wait_t *w = (polyrpc_rb_wait_t *)p;
  w->ran = 1;
  return w->fn(p);
}

static VALUE polyrpc_rb_check_ints(VALUE unused) {
  (void)unused;
  rb_thread_check_ints();
  return Qnil;
}

/* Runs fn without the GVL with the call's cancel as the unblocking function (it ends the wait
 * when the thread is interrupted, and cancels the call on the wire). rb_thread_call_without_gvl2
 * does not run fn at all while interrupts are pending, and a time slice that ran out is one of
 * them: those are processed here (another thread runs) and fn is tried again. An interrupt that
 * raises (Thread#raise, Thread#kill, a signal's exception) cancels the call instead; the caller
 * releases what it holds and re-raises it (POLYRPC_RB_RERAISE). */
/* How many threads of this process are in a blocking call operation now (any call, any
 * channel): the Ruby layer sends a call on a channel without busy polling while others wait,
 * since several threads polling on their own would take the CPU that the answers need. */
static int polyrpc_rb_waits_in_flight = 0;
/* When a wait last began while another was under way (CLOCK_MONOTONIC, ns). */
static int64_t polyrpc_rb_last_overlap_ns = INT64_MIN / 2;
/* Calls keep away from busy polling this long after waits last overlapped, so that a thread
 * that finds itself alone between the others' calls does not start polling every time. */
#define POLYRPC_RB_OVERLAP_WINDOW_NS 50000000

static int64_t polyrpc_rb_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* waits_in_flight: true while other threads wait in calls, or did within the last 50 ms. */
static VALUE polyrpc_rb_waits(VALUE self) {
  (void)self;
  if (__atomic_load_n(&polyrpc_rb_waits_in_flight, __ATOMIC_RELAXED) > 0) return Qtrue;
  return polyrpc_rb_now_ns() - __atomic_load_n(&polyrpc_rb_last_overlap_ns, __ATOMIC_RELAXED) <
                 POLYRPC_RB_OVERLAP_WINDOW_NS
             ? Qtrue
             : Qfalse;
}

static void *polyrpc_rb_counted(void *p) {
  polyrpc_rb_wait_t *w = (polyrpc_rb_wait_t *)p;
  void *r;
  if (__atomic_add_fetch(&polyrpc_rb_waits_in_flight, 1, __ATOMIC_RELAXED) > 1) {
    __atomic_store_n(&polyrpc_rb_last_overlap_ns, polyrpc_rb_now_ns(), __ATOMIC_RELAXED);
  }
  r = polyrpc_rb_trampoline(p);
  __atomic_sub_fetch(&polyrpc_rb_waits_in_flight, 1, __ATOMIC_RELAXED);
  (void)w;
  return r;
}

static void polyrpc_rb_call_op(polyrpc_rb_wait_t *w, void *(*fn)(void *)) {
  w->fn = fn;
  w->jump = 0;
  for (;;) {
    w->err = POLYRPC_ERROR_INTERNAL;
    w->ok = -1;
    w->ran = 0;
    rb_thread_call_without_gvl2(polyrpc_rb_counted, w, polyrpc_rb_cancel_call, w);
    if (w->ran) return;
    rb_protect(polyrpc_rb_check_ints, Qnil, &w->jump);
    if (w->jump) {
      (void)polyrpc_call_cancel(w->call);
      w->err = POLYRPC_OK;
      w->ok = 0;
      return;
    }
  }
}
#define POLYRPC_RB_RERAISE(w) \
  do {                        \
    if ((w).jump) rb_jump_tag((w).jump); \
  } while (0)

static VALUE polyrpc_rb_call_unary_nogvl(VALUE self, VALUE call, VALUE request) {
  polyrpc_rb_wait_t w;
  (void)self;
  memset(&w, 0, sizeof w);
  w.call = (polyrpc_call_t *)polyrpc_rb_unwrap(call, SWIGTYPE_p_polyrpc_call, "a call");
  w.buf = polyrpc_rb_buffer_from(request);
  polyrpc_rb_call_op(&w, polyrpc_rb_unary_fn);
  polyrpc_buffer_destroy(w.buf);
  if (w.err < 0 || w.jump) {
    polyrpc_buffer_destroy(w.out);
    POLYRPC_RB_RERAISE(w);
    polyrpc_rb_raise(w.err);
  }
  return polyrpc_rb_take_string(w.out);
}

static VALUE polyrpc_rb_call_read_nogvl(VALUE self, VALUE call) {
  polyrpc_rb_wait_t w;
  (void)self;
  memset(&w, 0, sizeof w);
  w.call = (polyrpc_call_t *)polyrpc_rb_unwrap(call, SWIGTYPE_p_polyrpc_call, "a call");
  polyrpc_rb_call_op(&w, polyrpc_rb_read_fn);
  if (w.err < 0 || w.jump) {
    polyrpc_buffer_destroy(w.out);
    POLYRPC_RB_RERAISE(w);
    polyrpc_rb_raise(w.err);
  }
  return polyrpc_rb_take_string(w.out);
}

static VALUE polyrpc_rb_call_write_nogvl(VALUE self, VALUE call, VALUE message, VALUE flags) {
  polyrpc_rb_wait_t w;
  (void)self;
  memset(&w, 0, sizeof w);
  w.call = (polyrpc_call_t *)polyrpc_rb_unwrap(call, SWIGTYPE_p_polyrpc_call, "a call");
  w.flags = NUM2UINT(flags);
  w.buf = polyrpc_rb_buffer_from(message);
  polyrpc_rb_call_op(&w, polyrpc_rb_write_fn);
  polyrpc_buffer_destroy(w.buf);
  POLYRPC_RB_RERAISE(w);
  if (w.err < 0) polyrpc_rb_raise(w.err);
  return w.ok == 1 ? Qtrue : Qfalse;
}

static VALUE polyrpc_rb_call_close_send_nogvl(VALUE self, VALUE call) {
  polyrpc_rb_wait_t w;
  (void)self;
  memset(&w, 0, sizeof w);
  w.call = (polyrpc_call_t *)polyrpc_rb_unwrap(call, SWIGTYPE_p_polyrpc_call, "a call");
  polyrpc_rb_call_op(&w, polyrpc_rb_close_send_fn);
  POLYRPC_RB_RERAISE(w);
  if (w.err < 0) polyrpc_rb_raise(w.err);
  return w.ok == 1 ? Qtrue : Qfalse;
}

static VALUE polyrpc_rb_call_recv_initial_metadata_nogvl(VALUE self, VALUE call) {
  polyrpc_rb_wait_t w;
  (void)self;
  memset(&w, 0, sizeof w);
  w.call = (polyrpc_call_t *)polyrpc_rb_unwrap(call, SWIGTYPE_p_polyrpc_call, "a call");
  polyrpc_rb_call_op(&w, polyrpc_rb_initial_md_fn);
  POLYRPC_RB_RERAISE(w);
  if (w.err < 0) polyrpc_rb_raise(w.err);
  return w.ok == 1 ? Qtrue : Qfalse;
}

static VALUE polyrpc_rb_call_recv_status_nogvl(VALUE self, VALUE call) {
  polyrpc_rb_wait_t w;
  (void)self;
  memset(&w, 0, sizeof w);
  w.call = (polyrpc_call_t *)polyrpc_rb_unwrap(call, SWIGTYPE_p_polyrpc_call, "a call");
  polyrpc_rb_call_op(&w, polyrpc_rb_status_fn);
  POLYRPC_RB_RERAISE(w);
  if (w.err < 0) polyrpc_rb_raise(w.err);
  return Qnil;
}

static VALUE polyrpc_rb_server_shutdown_nogvl(VALUE self, VALUE server, VALUE timeout_ms) {
  polyrpc_rb_wait_t w;
  (void)self;
  memset(&w, 0, sizeof w);
  w.server = (polyrpc_server_t *)polyrpc_rb_unwrap(server, SWIGTYPE_p_polyrpc_server, "a server");
  w.timeout64 = NUM2LL(timeout_ms);
  w.err = POLYRPC_ERROR_INTERNAL;
  /* Bounded by its timeout; no unblocking function (an interrupted shutdown would leave the
   * server half way): the call simply runs to its end first. */
  rb_thread_call_without_gvl(polyrpc_rb_server_shutdown_fn, &w, NULL, NULL);
  if (w.err < 0) polyrpc_rb_raise(w.err);
  return Qnil;
}

static void *polyrpc_rb_channel_close_fn(void *p) {
  polyrpc_rb_wait_t *w = (polyrpc_rb_wait_t *)p;
  w->err = polyrpc_channel_close(w->channel);
  return NULL;
}

/* channel_close_nogvl(channel): polyrpc_channel_close, which waits (up to 2 s) for the channel
 * to reach SHUTDOWN, without the GVL; bounded, so without an unblocking function. */
static VALUE polyrpc_rb_channel_close_nogvl(VALUE self, VALUE channel) {
  polyrpc_rb_wait_t w;
  (void)self;
  memset(&w, 0, sizeof w);
  w.channel = (polyrpc_channel_t *)polyrpc_rb_unwrap(channel, SWIGTYPE_p_polyrpc_channel, "a channel");
  w.err = POLYRPC_ERROR_INTERNAL;
  rb_thread_call_without_gvl(polyrpc_rb_channel_close_fn, &w, NULL, NULL);
  if (w.err < 0) polyrpc_rb_raise(w.err);
  return Qnil;
}

static VALUE polyrpc_rb_shutdown_nogvl(VALUE self, VALUE timeout_ms) {
  polyrpc_rb_wait_t w;
  (void)self;
  memset(&w, 0, sizeof w);
  w.timeout64 = NUM2LL(timeout_ms);
  w.err = POLYRPC_ERROR_INTERNAL;
  rb_thread_call_without_gvl(polyrpc_rb_shutdown_fn, &w, NULL, NULL);
  if (w.err < 0) polyrpc_rb_raise(w.err);
  return Qnil;
}

/* ---- Metadata as Hashes ----------------------------------------------------------------- */

typedef struct {
  polyrpc_metadata_t *md;
  VALUE exc_class; /* Qnil: no error */
  VALUE exc_message;
} polyrpc_rb_md_fill_t;

static int polyrpc_rb_md_add_one(polyrpc_rb_md_fill_t *f, VALUE key, VALUE value) {
  polyrpc_error_t err;
  if (!RB_TYPE_P(value, T_STRING)) {
    f->exc_class = rb_eTypeError;
    f->exc_message = rb_sprintf("metadata value for key \"%" PRIsVALUE
                                "\" must be a String or an Array of Strings, not %" PRIsVALUE,
                                key, rb_obj_class(value));
    return 0;
  }
  err = polyrpc_metadata_add(f->md, RSTRING_PTR(key), (const uint8_t *)RSTRING_PTR(value),
                             (size_t)RSTRING_LEN(value));
  if (err < 0) {
    const char *m = polyrpc_last_error();
    f->exc_class = err == POLYRPC_ERROR_INVALID_ARGUMENT ? rb_eArgError : polyrpc_rb_error_class;
    f->exc_message = rb_str_new_cstr((m && *m) ? m : polyrpc_error_name(err));
    return 0;
  }
  return 1;
}

static int polyrpc_rb_md_fill_cb(VALUE key, VALUE value, VALUE arg) {
  polyrpc_rb_md_fill_t *f = (polyrpc_rb_md_fill_t *)arg;
  long i;
  if (RB_SYMBOL_P(key)) key = rb_sym2str(key);
  if (!RB_TYPE_P(key, T_STRING)) {
    f->exc_class = rb_eTypeError;
    f->exc_message = rb_sprintf("metadata key must be a String or a Symbol, not %" PRIsVALUE,
                                rb_obj_class(key));
    return ST_STOP;
  }
  if (memchr(RSTRING_PTR(key), 0, (size_t)RSTRING_LEN(key)) != NULL) {
    f->exc_class = rb_eArgError;
    f->exc_message = rb_str_new_cstr("metadata key contains a NUL byte");
    return ST_STOP;
  }
  key = rb_str_new(RSTRING_PTR(key), RSTRING_LEN(key)); /* a NUL-terminated copy */
  if (RB_TYPE_P(value, T_ARRAY)) {
    for (i = 0; i < RARRAY_LEN(value); i++) {
      if (!polyrpc_rb_md_add_one(f, key, RARRAY_AREF(value, i))) return ST_STOP;
    }
    return ST_CONTINUE;
  }
  return polyrpc_rb_md_add_one(f, key, value) ? ST_CONTINUE : ST_STOP;
}

/* A new metadata list from a Hash (nil or empty: NULL). The caller destroys it. Raises (with
 * nothing leaked) on a key or value that is not a String, or one the C ABI refuses. */
static polyrpc_metadata_t *polyrpc_rb_md_from_hash(VALUE hash) {
  polyrpc_rb_md_fill_t f;
  polyrpc_error_t err;
  if (NIL_P(hash)) return NULL;
  if (!RB_TYPE_P(hash, T_HASH)) {
    rb_raise(rb_eTypeError, "metadata must be a Hash, not %" PRIsVALUE, rb_obj_class(hash));
  }
  if (RHASH_SIZE(hash) == 0) return NULL;
  f.md = NULL;
  f.exc_class = Qnil;
  f.exc_message = Qnil;
  err = polyrpc_metadata_create(&f.md);
  if (err < 0) polyrpc_rb_raise(err);
  rb_hash_foreach(hash, polyrpc_rb_md_fill_cb, (VALUE)&f);
  if (!NIL_P(f.exc_class)) {
    polyrpc_metadata_destroy(f.md);
    rb_exc_raise(rb_exc_new_str(f.exc_class, f.exc_message));
  }
  return f.md;
}

/* md (borrowed) as a Hash: key => value, or an Array of values for a repeated key. Values of
 * "-bin" keys are binary Strings, the others UTF-8 (they are printable ASCII). */
static VALUE polyrpc_rb_md_to_hash(const polyrpc_metadata_t *md) {
  VALUE h = rb_hash_new();
  size_t i, n;
  if (md == NULL) return h;
  n = polyrpc_metadata_count(md);
  for (i = 0; i < n; i++) {
    const char *key = NULL;
    const uint8_t *value = NULL;
    size_t len = 0, klen;
    VALUE k, v, old;
    if (polyrpc_metadata_get(md, i, &key, &value, &len) < 0) break;
    klen = strlen(key);
    k = rb_utf8_str_new(key, (long)klen);
    if (klen > 4 && memcmp(key + klen - 4, "-bin", 4) == 0) {
      v = rb_str_new((const char *)value, (long)len);
    } else {
      v = rb_utf8_str_new((const char *)value, (long)len);
    }
    old = rb_hash_lookup2(h, k, Qundef);
    if (old == Qundef) {
      rb_hash_aset(h, k, v);
    } else if (RB_TYPE_P(old, T_ARRAY)) {
      rb_ary_push(old, v);
    } else {
      rb_hash_aset(h, k, rb_ary_new_from_args(2, old, v));
    }
  }
  return h;
}

static VALUE polyrpc_rb_call_create_md(VALUE self, VALUE channel, VALUE method, VALUE timeout_ms,
                                       VALUE metadata, VALUE flags) {
  polyrpc_channel_t *ch;
  polyrpc_metadata_t *md;
  polyrpc_call_t *call = NULL;
  polyrpc_error_t err;
  int64_t timeout;
  uint32_t fl;
  (void)self;
  ch = (polyrpc_channel_t *)polyrpc_rb_unwrap(channel, SWIGTYPE_p_polyrpc_channel, "a channel");
  StringValueCStr(method);
  timeout = NUM2LL(timeout_ms);
  fl = NUM2UINT(flags);
  md = polyrpc_rb_md_from_hash(metadata); /* last: nothing may raise after it but the call */
  err = polyrpc_call_create(ch, RSTRING_PTR(method), timeout, md, fl, &call);
  polyrpc_metadata_destroy(md);
  if (err < 0) polyrpc_rb_raise(err);
  return SWIG_NewPointerObj((void *)call, SWIGTYPE_p_polyrpc_call, 0);
}

static VALUE polyrpc_rb_status_array(polyrpc_call_t *call) {
  int code = 0;
  const char *message = NULL;
  polyrpc_error_t err = polyrpc_call_status(call, &code, &message);
  if (err < 0) polyrpc_rb_raise(err);
  return rb_ary_new_from_args(2, INT2NUM(code), rb_utf8_str_new_cstr(message ? message : ""));
}

static VALUE polyrpc_rb_call_unary_status_nogvl(VALUE self, VALUE call, VALUE request) {
  polyrpc_rb_wait_t w;
  VALUE response, status;
  (void)self;
  memset(&w, 0, sizeof w);
  w.call = (polyrpc_call_t *)polyrpc_rb_unwrap(call, SWIGTYPE_p_polyrpc_call, "a call");
  w.buf = polyrpc_rb_buffer_from(request);
  polyrpc_rb_call_op(&w, polyrpc_rb_unary_fn);
  polyrpc_buffer_destroy(w.buf);
  if (w.err < 0 || w.jump) {
    polyrpc_buffer_destroy(w.out);
    POLYRPC_RB_RERAISE(w);
    polyrpc_rb_raise(w.err);
  }
  response = polyrpc_rb_take_string(w.out);
  status = polyrpc_rb_status_array(w.call);
  return rb_ary_new_from_args(3, response, RARRAY_AREF(status, 0), RARRAY_AREF(status, 1));
}

/* A whole blocking unary call in one native call (the stub's path when nothing needs the call
 * object): create, send, receive, status, and the trailers when the status is not OK; the call
 * is destroyed before returning (so an interrupt, which cancels it, leaves nothing behind). */
static VALUE polyrpc_rb_client_unary_nogvl(VALUE self, VALUE channel, VALUE method,
                                           VALUE timeout_ms, VALUE metadata, VALUE flags,
                                           VALUE request) {
  polyrpc_rb_wait_t w;
  VALUE call_obj, status, response, trailers = Qnil;
  (void)self;
  call_obj = polyrpc_rb_call_create_md(Qnil, channel, method, timeout_ms, metadata, flags);
  memset(&w, 0, sizeof w);
  w.call = (polyrpc_call_t *)polyrpc_rb_unwrap(call_obj, SWIGTYPE_p_polyrpc_call, "a call");
  {
    /* The copy is the last thing that may raise before the wait: destroy the call if it does. */
    polyrpc_error_t err;
    StringValue(request);
    err = polyrpc_buffer_create_copy((const uint8_t *)RSTRING_PTR(request),
                                     (size_t)RSTRING_LEN(request), &w.buf);
    if (err < 0) {
      polyrpc_call_destroy(w.call);
      polyrpc_rb_raise(err);
    }
  }
  polyrpc_rb_call_op(&w, polyrpc_rb_unary_fn);
  polyrpc_buffer_destroy(w.buf);
  if (w.err < 0 || w.jump) {
    polyrpc_buffer_destroy(w.out);
    polyrpc_call_destroy(w.call);
    POLYRPC_RB_RERAISE(w);
    polyrpc_rb_raise(w.err);
  }
  response = polyrpc_rb_take_string(w.out);
  {
    int code = 0;
    const char *message = NULL;
    polyrpc_error_t err = polyrpc_call_status(w.call, &code, &message);
    if (err < 0) {
      polyrpc_call_destroy(w.call);
      polyrpc_rb_raise(err);
    }
    status = rb_utf8_str_new_cstr(message ? message : "");
    if (code != 0) trailers = polyrpc_rb_md_to_hash(polyrpc_call_trailing_metadata(w.call));
    polyrpc_call_destroy(w.call);
    return rb_ary_new_from_args(4, response, INT2NUM(code), status, trailers);
  }
}

static VALUE polyrpc_rb_call_status_array(VALUE self, VALUE call) {
  (void)self;
  return polyrpc_rb_status_array(
      (polyrpc_call_t *)polyrpc_rb_unwrap(call, SWIGTYPE_p_polyrpc_call, "a call"));
}

static VALUE polyrpc_rb_call_metadata_hash(VALUE self, VALUE call, VALUE which) {
  polyrpc_call_t *c;
  const polyrpc_metadata_t *md;
  (void)self;
  c = (polyrpc_call_t *)polyrpc_rb_unwrap(call, SWIGTYPE_p_polyrpc_call, "a call");
  switch (NUM2INT(which)) {
    case 0: md = polyrpc_call_initial_metadata(c); break;
    case 1: md = polyrpc_call_trailing_metadata(c); break;
    case 2: md = polyrpc_call_request_metadata(c); break;
    default: rb_raise(rb_eArgError, "which must be 0 (initial), 1 (trailing) or 2 (request)");
  }
  if (md == NULL) polyrpc_rb_raise(POLYRPC_ERROR_INVALID_ARGUMENT);
  return polyrpc_rb_md_to_hash(md);
}

typedef struct {
  polyrpc_rb_wait_t w;
  polyrpc_metadata_t *md;
  int code;
  const char *details;
  int compressed;
  int write_first; /* call_respond: a message before the status */
} polyrpc_rb_send_t;

static void *polyrpc_rb_read_flags_fn(void *p) {
  polyrpc_rb_send_t *s = (polyrpc_rb_send_t *)p;
  s->w.err = polyrpc_call_recv_message(s->w.call, NULL, NULL);
  if (s->w.err == POLYRPC_OK) {
    s->w.err = polyrpc_call_take_message(s->w.call, &s->w.out, &s->compressed);
  } else if (s->w.err == POLYRPC_ERROR_CLOSED) {
    s->w.err = POLYRPC_OK; /* end of stream: a result */
  }
  s->w.ok = 1;
  return NULL;
}
static void *polyrpc_rb_send_initial_md_fn(void *p) {
  polyrpc_rb_send_t *s = (polyrpc_rb_send_t *)p;
  s->w.err = polyrpc_call_send_initial_metadata(s->w.call, s->md, NULL, NULL);
  s->w.ok = s->w.err == POLYRPC_OK;
  if (s->w.err == POLYRPC_ERROR_CLOSED) s->w.err = POLYRPC_OK;
  return NULL;
}
static void *polyrpc_rb_send_status_fn(void *p) {
  polyrpc_rb_send_t *s = (polyrpc_rb_send_t *)p;
  int written = 1;
  if (s->write_first) {
    s->w.err = polyrpc_call_write(s->w.call, s->w.buf, s->w.flags, &written);
    if (s->w.err < 0) return NULL;
  }
  if (!written) {
    s->w.ok = 0;
    return NULL;
  }
  s->w.err = polyrpc_call_send_status(s->w.call, s->code, s->details, s->md, NULL, NULL);
  s->w.ok = s->w.err == POLYRPC_OK;
  if (s->w.err == POLYRPC_ERROR_CLOSED) s->w.err = POLYRPC_OK;
  return NULL;
}

/* Runs a server-side send: fn without the GVL (cancelled by an interrupt). md and buf are
 * released here whatever happens. */
static VALUE polyrpc_rb_run_send(polyrpc_rb_send_t *s, void *(*fn)(void *)) {
  polyrpc_rb_call_op(&s->w, fn);
  polyrpc_metadata_destroy(s->md);
  polyrpc_buffer_destroy(s->w.buf);
  POLYRPC_RB_RERAISE(s->w);
  if (s->w.err < 0) polyrpc_rb_raise(s->w.err);
  return s->w.ok == 1 ? Qtrue : Qfalse;
}

static VALUE polyrpc_rb_call_read_flags_nogvl(VALUE self, VALUE call) {
  polyrpc_rb_send_t s;
  VALUE msg;
  (void)self;
  memset(&s, 0, sizeof s);
  s.w.call = (polyrpc_call_t *)polyrpc_rb_unwrap(call, SWIGTYPE_p_polyrpc_call, "a call");
  polyrpc_rb_call_op(&s.w, polyrpc_rb_read_flags_fn);
  if (s.w.err < 0 || s.w.jump) {
    polyrpc_buffer_destroy(s.w.out);
    POLYRPC_RB_RERAISE(s.w);
    polyrpc_rb_raise(s.w.err);
  }
  msg = polyrpc_rb_take_string(s.w.out);
  if (NIL_P(msg)) return Qnil;
  return rb_ary_new_from_args(2, msg, s.compressed ? Qtrue : Qfalse);
}

static VALUE polyrpc_rb_call_send_initial_metadata_nogvl(VALUE self, VALUE call, VALUE metadata) {
  polyrpc_rb_send_t s;
  (void)self;
  memset(&s, 0, sizeof s);
  s.w.call = (polyrpc_call_t *)polyrpc_rb_unwrap(call, SWIGTYPE_p_polyrpc_call, "a call");
  s.md = polyrpc_rb_md_from_hash(metadata);
  return polyrpc_rb_run_send(&s, polyrpc_rb_send_initial_md_fn);
}

static VALUE polyrpc_rb_call_send_status_nogvl(VALUE self, VALUE call, VALUE code, VALUE details,
                                               VALUE trailers) {
  polyrpc_rb_send_t s;
  VALUE ret;
  (void)self;
  memset(&s, 0, sizeof s);
  s.w.call = (polyrpc_call_t *)polyrpc_rb_unwrap(call, SWIGTYPE_p_polyrpc_call, "a call");
  s.code = NUM2INT(code);
  if (!NIL_P(details)) {
    details = rb_str_new_frozen(details); /* no other thread changes it meanwhile */
    s.details = StringValueCStr(details);
  }
  s.md = polyrpc_rb_md_from_hash(trailers); /* last: nothing raises after it */
  ret = polyrpc_rb_run_send(&s, polyrpc_rb_send_status_fn);
  RB_GC_GUARD(details);
  return ret;
}

static VALUE polyrpc_rb_call_respond_nogvl(VALUE self, VALUE call, VALUE message, VALUE flags,
                                           VALUE code, VALUE details, VALUE trailers) {
  polyrpc_rb_send_t s;
  VALUE ret;
  (void)self;
  memset(&s, 0, sizeof s);
  s.w.call = (polyrpc_call_t *)polyrpc_rb_unwrap(call, SWIGTYPE_p_polyrpc_call, "a call");
  s.code = NUM2INT(code);
  s.w.flags = NUM2UINT(flags);
  if (!NIL_P(details)) {
    details = rb_str_new_frozen(details);
    s.details = StringValueCStr(details);
  }
  StringValue(message);
  s.md = polyrpc_rb_md_from_hash(trailers);
  /* Nothing raises after the metadata but this copy, which frees it on failure. */
  {
    polyrpc_error_t err = polyrpc_buffer_create_copy((const uint8_t *)RSTRING_PTR(message),
                                                     (size_t)RSTRING_LEN(message), &s.w.buf);
    if (err < 0) {
      polyrpc_metadata_destroy(s.md);
      polyrpc_rb_raise(err);
    }
  }
  s.write_first = 1;
  ret = polyrpc_rb_run_send(&s, polyrpc_rb_send_status_fn);
  RB_GC_GUARD(details);
  return ret;
}

/* ---- The server's path: one wait per call to receive it, no wait to answer ---------------- */

/* A set of method paths (sorted C strings) that C code can look up without the GVL: the
 * methods whose one request the server reads together with the call (unary and server
 * streaming). PolyRPC::Native::MethodSet.new(array_of_strings). */
typedef struct {
  char **paths;
  long count;
} polyrpc_rb_method_set_t;

static void polyrpc_rb_method_set_free(void *p) {
  polyrpc_rb_method_set_t *set = (polyrpc_rb_method_set_t *)p;
  long i;
  for (i = 0; i < set->count; i++) free(set->paths[i]);
  free(set->paths);
  free(set);
}
static size_t polyrpc_rb_method_set_size(const void *p) {
  (void)p;
  return sizeof(polyrpc_rb_method_set_t);
}
static const rb_data_type_t polyrpc_rb_method_set_type = {
    "PolyRPC::Native::MethodSet",
    {NULL, polyrpc_rb_method_set_free, polyrpc_rb_method_set_size, NULL, {NULL}},
    NULL, NULL, RUBY_TYPED_FREE_IMMEDIATELY};

static int polyrpc_rb_cmp_paths(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static VALUE polyrpc_rb_method_set_new(VALUE klass, VALUE paths) {
  polyrpc_rb_method_set_t *set;
  VALUE obj;
  long i, n;
  Check_Type(paths, T_ARRAY);
  n = RARRAY_LEN(paths);
  for (i = 0; i < n; i++) { /* raise before allocating */
    VALUE str = RARRAY_AREF(paths, i);
    StringValueCStr(str);
  }
  obj = TypedData_Make_Struct(klass, polyrpc_rb_method_set_t, &polyrpc_rb_method_set_type, set);
  set->paths = (char **)calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
  if (set->paths == NULL) rb_raise(rb_eNoMemError, "method set");
  for (i = 0; i < n; i++) {
    VALUE str = RARRAY_AREF(paths, i);
    set->paths[i] = strdup(RSTRING_PTR(str));
    if (set->paths[i] == NULL) rb_raise(rb_eNoMemError, "method set");
    set->count = i + 1;
  }
  qsort(set->paths, (size_t)set->count, sizeof(char *), polyrpc_rb_cmp_paths);
  return obj;
}

static int polyrpc_rb_method_set_has(const polyrpc_rb_method_set_t *set, const char *path) {
  return path != NULL &&
         bsearch(&path, set->paths, (size_t)set->count, sizeof(char *), polyrpc_rb_cmp_paths) != NULL;
}

static VALUE polyrpc_rb_md_from_hash_value(VALUE hash) {
  return (VALUE)polyrpc_rb_md_from_hash(hash);
}

/* The completion tag of the answers started by call_respond_async and friends on a handler
 * thread's queue: server_next_call_nogvl drops their completions as it waits. */
#define POLYRPC_RB_ANSWER_TAG ((void *)(uintptr_t)1)

typedef struct {
  polyrpc_server_t *server;
  polyrpc_cq_t *cq;
  void *tag;
  int request; /* ask for a call first */
  const polyrpc_rb_method_set_t *read_first;
  polyrpc_error_t err;
  int result; /* 0 woken (the request stays pending), 1 a call, 2 the request ended (shutdown),
                 3 the queue shut down */
  polyrpc_call_t *call;
  const char *method;
  polyrpc_buffer_t *msg;
  int compressed;
  int ran;
} polyrpc_rb_next_call_t;

static void *polyrpc_rb_next_call_fn(void *p) {
  polyrpc_rb_next_call_t *n = (polyrpc_rb_next_call_t *)p;
  polyrpc_event_t ev;
  n->ran = 1;
  n->result = 0;
  if (n->request) {
    n->err = polyrpc_server_request_call_v2(n->server, n->cq, n->tag);
    if (n->err < 0) return NULL;
    n->request = 0;
  }
  for (;;) {
    memset(&ev, 0, sizeof ev);
    ev.struct_size = sizeof ev;
    n->err = polyrpc_cq_next(n->cq, -1, &ev);
    if (n->err < 0) return NULL;
    if (ev.type == POLYRPC_EVENT_COMPLETE && ev.tag == POLYRPC_RB_ANSWER_TAG) continue;
    if (ev.type == POLYRPC_EVENT_SHUTDOWN) {
      n->result = 3;
      return NULL;
    }
    if (ev.type != POLYRPC_EVENT_COMPLETE) return NULL; /* woken: the request stays pending */
    if (ev.tag != n->tag) continue;                  /* a stale completion: not ours */
    if (!ev.success) {
      n->result = 2;
      return NULL;
    }
    {
      polyrpc_call_t *taken = NULL;
      n->err = polyrpc_server_take_call(n->server, n->tag, &taken);
      if (n->err < 0) return NULL;
      __atomic_store_n(&n->call, taken, __ATOMIC_RELEASE); /* the unblocking function reads it */
    }
    n->result = 1;
    n->method = polyrpc_call_method(n->call);
    if (n->read_first != NULL && polyrpc_rb_method_set_has(n->read_first, n->method)) {
      /* A unary request usually came with the headers: it is taken here at once. An interrupt
       * cancels the call (see the unblocking function), which ends this read too. No
       * request, or a second one, ends the call UNIMPLEMENTED (statuscodes.md). */
      (void)polyrpc_call_expect_one_request(n->call);
      if (polyrpc_call_recv_message(n->call, NULL, NULL) == POLYRPC_OK) {
        (void)polyrpc_call_take_message(n->call, &n->msg, &n->compressed);
      }
    }
    return NULL;
  }
}

static void polyrpc_rb_next_call_ubf(void *p) {
  polyrpc_rb_next_call_t *n = (polyrpc_rb_next_call_t *)p;
  polyrpc_call_t *call = __atomic_load_n(&n->call, __ATOMIC_ACQUIRE);
  (void)polyrpc_cq_wake(n->cq);
  if (call != NULL) (void)polyrpc_call_cancel(call);
}

/* server_next_call_nogvl(server, cq, tag, request, read_first) -> [result, call, method,
 * message, compressed]: asks for a call (if request) and waits on the handler thread's own
 * queue without the GVL, dropping the completions of earlier answers. result: 0 woken (the
 * request is still pending: pass request=false next time), 1 a call (with its one request
 * message when its method is in read_first: nil if the client sent none), 2 the server shut
 * down, 3 the queue shut down. */
static VALUE polyrpc_rb_server_next_call_nogvl(VALUE self, VALUE server, VALUE cq, VALUE tag,
                                               VALUE request, VALUE read_first) {
  polyrpc_rb_next_call_t n;
  VALUE call = Qnil, method = Qnil, msg;
  (void)self;
  memset(&n, 0, sizeof n);
  n.server = (polyrpc_server_t *)polyrpc_rb_unwrap(server, SWIGTYPE_p_polyrpc_server, "a server");
  n.cq = (polyrpc_cq_t *)polyrpc_rb_unwrap(cq, SWIGTYPE_p_polyrpc_cq, "a completion queue");
  n.tag = (void *)(uintptr_t)NUM2ULL(tag);
  if (n.tag == NULL || n.tag == POLYRPC_RB_ANSWER_TAG) rb_raise(rb_eArgError, "tag must be > 1");
  n.request = RTEST(request);
  if (!NIL_P(read_first)) {
    n.read_first = (const polyrpc_rb_method_set_t *)rb_check_typeddata(read_first,
                                                                       &polyrpc_rb_method_set_type);
  }
  for (;;) {
    n.ran = 0;
    n.err = POLYRPC_OK;
    rb_thread_call_without_gvl2(polyrpc_rb_next_call_fn, &n, polyrpc_rb_next_call_ubf, &n);
    if (n.ran) break;
    rb_thread_check_ints(); /* nothing held yet: pending interrupts may raise here */
  }
  if (n.err < 0) {
    polyrpc_buffer_destroy(n.msg);
    if (n.call != NULL) polyrpc_call_destroy(n.call);
    polyrpc_rb_raise(n.err);
  }
  if (n.result == 1) {
    call = SWIG_NewPointerObj((void *)n.call, SWIGTYPE_p_polyrpc_call, 0);
    method = rb_utf8_str_new_cstr(n.method ? n.method : "");
  }
  msg = polyrpc_rb_take_string(n.msg);
  return rb_ary_new_from_args(5, INT2NUM(n.result), call, method, msg, n.compressed ? Qtrue : Qfalse);
}

/* call_respond_async(call, cq, initial_md, message, flags, code, details, trailers) -> nil:
 * starts the server's answer (initial metadata if any, the message unless nil, the status) on
 * the handler thread's queue and returns at once, with the GVL: nothing waits. The call may be
 * destroyed right away (its status is under way, so that does not cancel it); the completions
 * come to cq under POLYRPC_RB_ANSWER_TAG and server_next_call_nogvl drops them. */
static VALUE polyrpc_rb_call_respond_async(VALUE self, VALUE call, VALUE cq, VALUE initial_md,
                                           VALUE message, VALUE flags, VALUE code, VALUE details,
                                           VALUE trailers) {
  polyrpc_call_t *c;
  polyrpc_cq_t *q;
  polyrpc_metadata_t *imd = NULL, *tmd = NULL;
  polyrpc_buffer_t *buf = NULL;
  polyrpc_error_t err = POLYRPC_OK;
  const char *msg = NULL;
  int st;
  uint32_t fl;
  (void)self;
  c = (polyrpc_call_t *)polyrpc_rb_unwrap(call, SWIGTYPE_p_polyrpc_call, "a call");
  q = (polyrpc_cq_t *)polyrpc_rb_unwrap(cq, SWIGTYPE_p_polyrpc_cq, "a completion queue");
  st = NUM2INT(code);
  fl = NUM2UINT(flags);
  if (!NIL_P(details)) {
    details = rb_str_new_frozen(details);
    msg = StringValueCStr(details);
  }
  if (!NIL_P(message)) StringValue(message);
  /* What may raise comes first; then nothing but the C calls, whose failure frees all. */
  imd = polyrpc_rb_md_from_hash(initial_md);
  {
    int state = 0;
    VALUE t = rb_protect(polyrpc_rb_md_from_hash_value, trailers, &state);
    if (state) {
      polyrpc_metadata_destroy(imd);
      rb_jump_tag(state);
    }
    tmd = (polyrpc_metadata_t *)t;
  }
  if (imd != NULL) err = polyrpc_call_send_initial_metadata(c, imd, q, POLYRPC_RB_ANSWER_TAG);
  if (err >= 0 && !NIL_P(message)) {
    err = polyrpc_buffer_create_copy((const uint8_t *)RSTRING_PTR(message),
                                     (size_t)RSTRING_LEN(message), &buf);
    if (err >= 0) err = polyrpc_call_send_message(c, buf, fl, q, POLYRPC_RB_ANSWER_TAG);
  }
  if (err >= 0) err = polyrpc_call_send_status(c, st, msg, tmd, q, POLYRPC_RB_ANSWER_TAG);
  polyrpc_buffer_destroy(buf);
  polyrpc_metadata_destroy(imd);
  polyrpc_metadata_destroy(tmd);
  RB_GC_GUARD(details);
  if (err < 0) polyrpc_rb_raise(err);
  return Qnil;
}

static void polyrpc_ruby_init(VALUE m) {
  rb_define_module_function(m, "cq_next_nogvl", polyrpc_rb_cq_next_nogvl, 2);
  rb_define_module_function(m, "call_unary_nogvl", polyrpc_rb_call_unary_nogvl, 2);
  rb_define_module_function(m, "call_read_nogvl", polyrpc_rb_call_read_nogvl, 1);
  rb_define_module_function(m, "call_write_nogvl", polyrpc_rb_call_write_nogvl, 3);
  rb_define_module_function(m, "call_close_send_nogvl", polyrpc_rb_call_close_send_nogvl, 1);
  rb_define_module_function(m, "call_recv_initial_metadata_nogvl",
                            polyrpc_rb_call_recv_initial_metadata_nogvl, 1);
  rb_define_module_function(m, "call_recv_status_nogvl", polyrpc_rb_call_recv_status_nogvl, 1);
  rb_define_module_function(m, "server_shutdown_nogvl", polyrpc_rb_server_shutdown_nogvl, 2);
  rb_define_module_function(m, "shutdown_nogvl", polyrpc_rb_shutdown_nogvl, 1);
  rb_define_module_function(m, "channel_close_nogvl", polyrpc_rb_channel_close_nogvl, 1);
  rb_define_module_function(m, "call_create_md", polyrpc_rb_call_create_md, 5);
  rb_define_module_function(m, "call_unary_status_nogvl", polyrpc_rb_call_unary_status_nogvl, 2);
  rb_define_module_function(m, "call_status_array", polyrpc_rb_call_status_array, 1);
  rb_define_module_function(m, "client_unary_nogvl", polyrpc_rb_client_unary_nogvl, 6);
  rb_define_module_function(m, "call_metadata_hash", polyrpc_rb_call_metadata_hash, 2);
  rb_define_module_function(m, "call_read_flags_nogvl", polyrpc_rb_call_read_flags_nogvl, 1);
  rb_define_module_function(m, "call_send_initial_metadata_nogvl",
                            polyrpc_rb_call_send_initial_metadata_nogvl, 2);
  rb_define_module_function(m, "call_send_status_nogvl", polyrpc_rb_call_send_status_nogvl, 4);
  rb_define_module_function(m, "call_respond_nogvl", polyrpc_rb_call_respond_nogvl, 6);
  rb_define_module_function(m, "server_next_call_nogvl", polyrpc_rb_server_next_call_nogvl, 5);
  rb_define_module_function(m, "call_respond_async", polyrpc_rb_call_respond_async, 8);
  rb_define_module_function(m, "waits_in_flight", polyrpc_rb_waits, 0);
  {
    VALUE set = rb_define_class_under(m, "MethodSet", rb_cObject);
    rb_undef_alloc_func(set);
    rb_define_singleton_method(set, "new", polyrpc_rb_method_set_new, 1);
  }
}
