/* polyrpc_php.c - the hand-written part of the PHP extension: what SWIG cannot express.
 *
 * Persistent channels. A PHP request (a php-fpm request, a php-cli script) owns nothing beyond
 * its own end, but a channel is worth keeping: its HTTP/2 connection, TLS session and resolved
 * address survive, so the next request of the same worker makes its first call without
 * connecting again. This file keeps a process-wide table of channels keyed by what makes two
 * channels interchangeable (the PHP layer builds the key from the target, the credentials and
 * the options). No request owns an entry:
 *  - polyrpc_php_channel_acquire() returns the table's channel for a key, creating it if there
 *    is none, and counts the PHP object that holds it (a borrowed handle: PHP never destroys
 *    it); polyrpc_php_channel_release() uncounts it. Entries stay when their count drops to 0:
 *    that is what makes them persistent.
 *  - polyrpc_php_channel_close_persistent() closes a channel for everyone (its calls end with
 *    CANCELLED, new ones get UNAVAILABLE) and takes it out of the table; the handle is destroyed
 *    once no PHP object holds it, so no object is ever left with a freed handle.
 *  - fork(): php-fpm forks its workers from a master that loaded the extension, and pcntl_fork()
 *    forks scripts. A channel made by another process is CLOSED in this one (docs/c-api.md
 *    "fork()"), so an entry remembers its creator's pid; acquiring it in a child destroys it
 *    and makes a new one there. Nothing runs at fork time.
 *  - Request end (RSHUTDOWN): no PHP object outlives its request, so every count is reset
 *    (a fatal error skips destructors) and closed channels nobody can use any more go.
 *  - Module end (MSHUTDOWN, when php-fpm recycles a worker after pm.max_requests, at a reload,
 *    at php-cli's exit): every channel is destroyed and polyrpc_shutdown() stops libpolyrpc's
 *    I/O threads with a bounded wait, so no process hangs on its way out.
 * polyrpc_php_persistent_channels() lists the table (key, pid, holders, state) for tests and
 * diagnostics. The table has a mutex for thread-safe (ZTS) builds of PHP.
 *
 * This file is not compiled on its own: polyrpc.i includes it into the SWIG-generated wrapper,
 * which is C++ (so it is written in the common subset of C and C++), because it converts
 * handles with SWIG's pointer conversion and the type descriptors of the opaque handles. Its
 * functions are registered at MINIT beside the generated ones (polyrpc_php_minit()).
 */
#include <pthread.h>
#include <sys/types.h>
#include <unistd.h>

typedef struct polyrpc_php_pchan {
  polyrpc_channel_t *channel;
  pid_t pid;     /* the process that created channel */
  long holders;  /* PHP objects of the running request holding channel */
  int closed;    /* taken out of the table: destroyed once holders drops to 0 */
  struct polyrpc_php_pchan *next_closed;
} polyrpc_php_pchan_t;

/* Process-wide state, allocated with malloc (persistent, owned by no request). */
static HashTable polyrpc_php_pchans; /* key -> polyrpc_php_pchan_t * */
static polyrpc_php_pchan_t *polyrpc_php_closed; /* closed entries still held */
static int polyrpc_php_pchans_ready;
static pthread_mutex_t polyrpc_php_pchans_mu = PTHREAD_MUTEX_INITIALIZER;
/* How long polyrpc_shutdown() may wait at module end, in ms (servers left running get this
 * much grace; client channels close at once). */
#define POLYRPC_PHP_SHUTDOWN_TIMEOUT_MS 1000

static void polyrpc_php_pchan_free(polyrpc_php_pchan_t *e) {
  polyrpc_channel_destroy(e->channel);
  free(e);
}

/* HashTable destructor of the table's values. */
static void polyrpc_php_pchan_dtor(zval *zv) {
  polyrpc_php_pchan_t *e = (polyrpc_php_pchan_t *)Z_PTR_P(zv);
  if (e->holders > 0) {
    /* Still held by PHP objects: keep the handle valid until they let go. */
    e->closed = 1;
    e->next_closed = polyrpc_php_closed;
    polyrpc_php_closed = e;
    return;
  }
  polyrpc_php_pchan_free(e);
}

/* Destroys the closed entries nobody holds any more. Under the mutex. */
static void polyrpc_php_sweep_closed(int all) {
  polyrpc_php_pchan_t **p = &polyrpc_php_closed;
  while (*p) {
    polyrpc_php_pchan_t *e = *p;
    if (all || e->holders <= 0) {
      *p = e->next_closed;
      polyrpc_php_pchan_free(e);
    } else {
      p = &e->next_closed;
    }
  }
}

static void *polyrpc_php_unwrap(zval *z, swig_type_info *type, const char *what, int argnum,
                                const char *fn, int nullable) {
  void *ptr = NULL;
  if (nullable && (z == NULL || Z_TYPE_P(z) == IS_NULL)) return NULL;
  if (z == NULL || Z_TYPE_P(z) == IS_NULL ||
      SWIG_ConvertPtr(z, &ptr, type, 0) < 0 || ptr == NULL) {
    zend_type_error("%s(): Argument #%d must be %s", fn, argnum, what);
    return NULL;
  }
  return ptr;
}

/* polyrpc_php_channel_acquire(string $key, string $target, $credentials, $options = null)
 *   -> the persistent channel for key (borrowed: never pass it to polyrpc_channel_destroy),
 *      counted as held until polyrpc_php_channel_release(). */
ZEND_BEGIN_ARG_INFO_EX(polyrpc_php_arginfo_acquire, 0, 0, 3)
  ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
  ZEND_ARG_TYPE_INFO(0, target, IS_STRING, 0)
  ZEND_ARG_INFO(0, credentials)
  ZEND_ARG_INFO(0, options)
ZEND_END_ARG_INFO()
static PHP_FUNCTION(polyrpc_php_channel_acquire) {
  zend_string *key, *target;
  zval *zcreds, *zopts = NULL;
  polyrpc_channel_credentials_t *creds;
  polyrpc_options_t *opts;
  polyrpc_php_pchan_t *e;
  polyrpc_channel_t *ch = NULL;
  polyrpc_error_t err;
  pid_t pid = getpid();

  ZEND_PARSE_PARAMETERS_START(3, 4)
    Z_PARAM_STR(key)
    Z_PARAM_STR(target)
    Z_PARAM_ZVAL(zcreds)
    Z_PARAM_OPTIONAL
    Z_PARAM_ZVAL(zopts)
  ZEND_PARSE_PARAMETERS_END();
  creds = (polyrpc_channel_credentials_t *)polyrpc_php_unwrap(
      zcreds, SWIGTYPE_p_polyrpc_channel_credentials, "channel credentials", 3,
      "polyrpc_php_channel_acquire", 0);
  if (creds == NULL) return;
  opts = (polyrpc_options_t *)polyrpc_php_unwrap(zopts, SWIGTYPE_p_polyrpc_options,
                                                 "options or null", 4,
                                                 "polyrpc_php_channel_acquire", 1);
  if (EG(exception)) return;

  pthread_mutex_lock(&polyrpc_php_pchans_mu);
  e = (polyrpc_php_pchan_t *)zend_hash_find_ptr(&polyrpc_php_pchans, key);
  if (e != NULL && e->pid != pid) {
    /* Inherited through fork(): CLOSED here. Its holders (if any) are the parent's objects,
     * copied into this process, and will release it; the table forgets it now. */
    zend_hash_del(&polyrpc_php_pchans, key);
    e = NULL;
  }
  if (e == NULL) {
    err = polyrpc_channel_create(ZSTR_VAL(target), creds, opts, &ch);
    if (err < 0) {
      pthread_mutex_unlock(&polyrpc_php_pchans_mu);
      polyrpc_php_throw(err, 1);
      return;
    }
    e = (polyrpc_php_pchan_t *)calloc(1, sizeof *e);
    if (e == NULL) {
      pthread_mutex_unlock(&polyrpc_php_pchans_mu);
      polyrpc_channel_destroy(ch);
      polyrpc_php_throw(POLYRPC_ERROR_NO_MEMORY, 0);
      return;
    }
    e->channel = ch;
    e->pid = pid;
    /* A persistent key: the table outlives the request that made the string. */
    {
      zend_string *pkey = zend_string_init(ZSTR_VAL(key), ZSTR_LEN(key), 1);
      zend_hash_add_new_ptr(&polyrpc_php_pchans, pkey, e);
      zend_string_release(pkey);
    }
  }
  e->holders++;
  ch = e->channel;
  pthread_mutex_unlock(&polyrpc_php_pchans_mu);
  SWIG_SetPointerZval(return_value, (void *)ch, SWIGTYPE_p_polyrpc_channel, 0);
}

/* polyrpc_php_channel_release($channel): the PHP object that acquired channel lets it go. */
ZEND_BEGIN_ARG_INFO_EX(polyrpc_php_arginfo_release, 0, 0, 1)
  ZEND_ARG_INFO(0, channel)
ZEND_END_ARG_INFO()
static PHP_FUNCTION(polyrpc_php_channel_release) {
  zval *zch;
  polyrpc_channel_t *ch;
  polyrpc_php_pchan_t *e;
  void *vp;
  ZEND_PARSE_PARAMETERS_START(1, 1)
    Z_PARAM_ZVAL(zch)
  ZEND_PARSE_PARAMETERS_END();
  ch = (polyrpc_channel_t *)polyrpc_php_unwrap(zch, SWIGTYPE_p_polyrpc_channel, "a channel", 1,
                                               "polyrpc_php_channel_release", 0);
  if (ch == NULL) return;
  pthread_mutex_lock(&polyrpc_php_pchans_mu);
  ZEND_HASH_FOREACH_PTR(&polyrpc_php_pchans, vp) {
    e = (polyrpc_php_pchan_t *)vp;
    if (e->channel == ch && e->holders > 0) e->holders--;
  } ZEND_HASH_FOREACH_END();
  for (e = polyrpc_php_closed; e; e = e->next_closed) {
    if (e->channel == ch && e->holders > 0) e->holders--;
  }
  polyrpc_php_sweep_closed(0);
  pthread_mutex_unlock(&polyrpc_php_pchans_mu);
}

/* polyrpc_php_channel_close_persistent(string $key) -> bool: closes the channel of key for
 * every holder and takes it out of the table; false if there was none. */
ZEND_BEGIN_ARG_INFO_EX(polyrpc_php_arginfo_close, 0, 0, 1)
  ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
ZEND_END_ARG_INFO()
static PHP_FUNCTION(polyrpc_php_channel_close_persistent) {
  zend_string *key;
  polyrpc_php_pchan_t *e;
  ZEND_PARSE_PARAMETERS_START(1, 1)
    Z_PARAM_STR(key)
  ZEND_PARSE_PARAMETERS_END();
  pthread_mutex_lock(&polyrpc_php_pchans_mu);
  e = (polyrpc_php_pchan_t *)zend_hash_find_ptr(&polyrpc_php_pchans, key);
  if (e == NULL) {
    pthread_mutex_unlock(&polyrpc_php_pchans_mu);
    RETURN_FALSE;
  }
  if (e->pid == getpid()) (void)polyrpc_channel_close(e->channel);
  zend_hash_del(&polyrpc_php_pchans, key); /* the dtor destroys it now or at the last release */
  pthread_mutex_unlock(&polyrpc_php_pchans_mu);
  RETURN_TRUE;
}

/* polyrpc_php_persistent_channels() -> [['key' => ..., 'pid' => ..., 'holders' => ...,
 * 'state' => POLYRPC_CHANNEL_*], ...] for the channels in the table. */
ZEND_BEGIN_ARG_INFO_EX(polyrpc_php_arginfo_list, 0, 0, 0)
ZEND_END_ARG_INFO()
static PHP_FUNCTION(polyrpc_php_persistent_channels) {
  zend_string *key;
  void *vp;
  ZEND_PARSE_PARAMETERS_NONE();
  array_init(return_value);
  pthread_mutex_lock(&polyrpc_php_pchans_mu);
  ZEND_HASH_FOREACH_STR_KEY_PTR(&polyrpc_php_pchans, key, vp) {
    polyrpc_php_pchan_t *e = (polyrpc_php_pchan_t *)vp;
    zval row;
    polyrpc_connectivity_state_t state = POLYRPC_CHANNEL_SHUTDOWN;
    if (e->pid == getpid()) (void)polyrpc_channel_get_state(e->channel, 0, &state);
    array_init(&row);
    add_assoc_stringl(&row, "key", ZSTR_VAL(key), ZSTR_LEN(key));
    add_assoc_long(&row, "pid", (zend_long)e->pid);
    add_assoc_long(&row, "holders", (zend_long)e->holders);
    add_assoc_long(&row, "state", (zend_long)state);
    add_next_index_zval(return_value, &row);
  } ZEND_HASH_FOREACH_END();
  pthread_mutex_unlock(&polyrpc_php_pchans_mu);
}

static const zend_function_entry polyrpc_php_functions[] = {
  ZEND_FE(polyrpc_php_channel_acquire, polyrpc_php_arginfo_acquire)
  ZEND_FE(polyrpc_php_channel_release, polyrpc_php_arginfo_release)
  ZEND_FE(polyrpc_php_channel_close_persistent, polyrpc_php_arginfo_close)
  ZEND_FE(polyrpc_php_persistent_channels, polyrpc_php_arginfo_list)
  ZEND_FE_END
};

static void polyrpc_php_minit(int module_number) {
  (void)module_number;
  pthread_mutex_lock(&polyrpc_php_pchans_mu);
  if (!polyrpc_php_pchans_ready) {
    zend_hash_init(&polyrpc_php_pchans, 8, NULL, polyrpc_php_pchan_dtor, 1);
    polyrpc_php_pchans_ready = 1;
  }
  pthread_mutex_unlock(&polyrpc_php_pchans_mu);
  zend_register_functions(NULL, polyrpc_php_functions, NULL, MODULE_PERSISTENT);
}

static void polyrpc_php_rshutdown(void) {
  polyrpc_php_pchan_t *e;
  void *vp;
  pthread_mutex_lock(&polyrpc_php_pchans_mu);
  if (polyrpc_php_pchans_ready) {
    ZEND_HASH_FOREACH_PTR(&polyrpc_php_pchans, vp) {
    e = (polyrpc_php_pchan_t *)vp;
      e->holders = 0;
    } ZEND_HASH_FOREACH_END();
  }
  for (e = polyrpc_php_closed; e; e = e->next_closed) e->holders = 0;
  polyrpc_php_sweep_closed(0);
  pthread_mutex_unlock(&polyrpc_php_pchans_mu);
}

static void polyrpc_php_mshutdown(void) {
  pthread_mutex_lock(&polyrpc_php_pchans_mu);
  if (polyrpc_php_pchans_ready) {
    polyrpc_php_pchan_t *e;
    void *vp;
    ZEND_HASH_FOREACH_PTR(&polyrpc_php_pchans, vp) {
    e = (polyrpc_php_pchan_t *)vp;
      e->holders = 0;
    } ZEND_HASH_FOREACH_END();
    zend_hash_destroy(&polyrpc_php_pchans);
    polyrpc_php_pchans_ready = 0;
  }
  polyrpc_php_sweep_closed(1);
  pthread_mutex_unlock(&polyrpc_php_pchans_mu);
  /* Stops libpolyrpc's I/O threads (started again on next use: a module loaded again works). */
  (void)polyrpc_shutdown(POLYRPC_PHP_SHUTDOWN_TIMEOUT_MS);
}
