/* polyrpc.i - the one SWIG interface of libpolyrpc's C ABI, shared by every SWIG binding (Ruby,
 * PHP, C#). It wraps the public headers as they are; the typemaps that say how each kind of
 * argument crosses into a language live beside it, one file per language:
 *
 *   typemaps_ruby.swg, typemaps_php.swg, typemaps_csharp.swg
 *
 * What crosses, in every language (docs/bindings.md has the table):
 *  - Handles: opaque, typed (a channel where a call is expected is the language's type error);
 *    never freed by the wrapper: the idiomatic layer owns them and calls polyrpc_*_destroy.
 *  - polyrpc_error_t results: a negative code becomes the language's exception, carrying the
 *    code and polyrpc_last_error(), read inside the same wrapper (a runtime that moves work
 *    between threads must never read it later). OK returns nothing: out-arguments are the
 *    function's results.
 *  - "T **out" arguments: results. Bytes in ("const uint8_t *data, size_t len"): the language's
 *    byte string. Borrowed bytes out ("const uint8_t **data, size_t *len"): a byte string copy
 *    (Ruby, PHP) or the pointer and length (C#, which reads them in place). int, int64_t,
 *    size_t and "const char *" out-arguments: results; size_t is 64 bits everywhere.
 *  - Tags (void *tag): integers. The completion event is unpacked: struct_size is set by the
 *    wrapper, and type, tag and success come back.
 *
 * What SWIG cannot express is not wrapped here: function pointers (polyrpc_cq_create_callback,
 * polyrpc_buffer_create_wrap's free_fn), and waits that must release a global lock with a way
 * to wake them (Ruby's GVL). Each language has one small hand-written C file for those, named
 * and documented as such: bindings/ruby/ext/polyrpc_native/polyrpc_ruby.c (waits without the
 * GVL, with unblocking functions), included into the Ruby wrapper below, and
 * bindings/php/ext/polyrpc_php.c (persistent channels that outlive a PHP request, and
 * polyrpc_shutdown at module end), included into the PHP wrapper. polyrpc_server_request_call
 * writes its call pointer later from an I/O thread: bindings use polyrpc_server_request_call_v2
 * and polyrpc_server_take_call instead, so it is not wrapped either.
 */

#if defined(SWIGRUBY)
%module "PolyRPC::Native"
#elif defined(SWIGPHP)
%module polyrpc
#elif defined(SWIGCSHARP)
%module(imclassname="NativeMethods") PolyRpcNative
#else
#error "polyrpc.i has typemaps for Ruby, PHP and C# only"
#endif

%{
#include <stdint.h>
#include <string.h>
#include "polyrpc/polyrpc.h"
%}

%include <stdint.i>

/* Function pointers and later-written pointers: see the top of this file. */
%ignore polyrpc_cq_create_callback;
%ignore polyrpc_buffer_create_wrap;
%ignore polyrpc_log_set_callback;
%ignore polyrpc_server_request_call;
/* The event is unpacked by the typemaps of polyrpc_cq_next. */
%ignore polyrpc_event;
%ignore polyrpc_event_t;

/* The opaque handle types, for the per-language macros. */
#define POLYRPC_HANDLE_TYPES(M)                                                               \
  M(polyrpc_buffer_t) M(polyrpc_metadata_t) M(polyrpc_cq_t) M(polyrpc_options_t)              \
  M(polyrpc_channel_credentials_t) M(polyrpc_server_credentials_t)                            \
  M(polyrpc_call_credentials_t) M(polyrpc_channel_t) M(polyrpc_call_t) M(polyrpc_server_t)    \
  M(polyrpc_descriptor_pool_t)

#if defined(SWIGRUBY)
%include "typemaps_ruby.swg"
/* The hand-written part (GVL-free waits): bindings/ruby/ext/polyrpc_native/polyrpc_ruby.c. */
%{
#include "polyrpc_ruby.c"
%}
%init %{
  polyrpc_ruby_init(mNative);
%}
#elif defined(SWIGPHP)
%include "typemaps_php.swg"
/* The hand-written part (persistent channels across requests, module and request end):
 * bindings/php/ext/polyrpc_php.c. */
%{
#include "polyrpc_php.c"
%}
%minit %{
  polyrpc_php_minit(module_number);
%}
%rshutdown %{
  polyrpc_php_rshutdown();
%}
%mshutdown %{
  polyrpc_php_mshutdown();
%}
#elif defined(SWIGCSHARP)
%include "typemaps_csharp.swg"
#endif

%include "polyrpc/common.h"
%include "polyrpc/cq.h"
%include "polyrpc/credentials.h"
%include "polyrpc/channel.h"
%include "polyrpc/call.h"
%include "polyrpc/server.h"
%include "polyrpc/dynamic.h"
