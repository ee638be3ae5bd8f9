<?php
// The generated PHP extension (polyrpc), checked against the C ABI: every kind of typemap of
// bindings/swig/typemaps_php.swg, and one real call from a client to a server of the same
// process through a completion queue. Run by ctest (swig.php); a failed check exits 1.

function check($cond, $what) {
    if (!$cond) {
        fwrite(STDERR, "FAILED: $what\n");
        exit(1);
    }
}
function raises($class, $fn) {
    try {
        $fn();
    } catch (Throwable $e) {
        return $e instanceof $class ? $e : null;
    }
    return null;
}

check(preg_match('/^\d+\.\d+\.\d+$/', polyrpc_version()) === 1, "version");

$bytes = "a\0b\xff";
$buf = polyrpc_buffer_create_copy($bytes);
check(polyrpc_buffer_data($buf) === $bytes, "buffer round trip");
check(polyrpc_buffer_length($buf) === 4, "size_t result");

$e = raises(PolyRPC\Native\Error::class, fn() => polyrpc_buffer_data(null));
check($e !== null && $e->getCode() === POLYRPC_ERROR_INVALID_ARGUMENT &&
      str_contains($e->getMessage(), "buffer is NULL") && $e instanceof RuntimeException,
      "error carries code and message");
$md = polyrpc_metadata_create();
check(raises(TypeError::class, fn() => polyrpc_buffer_data($md)) !== null, "wrong handle type is a TypeError");
check(raises(TypeError::class, fn() => polyrpc_buffer_create_copy(42)) !== null, "bytes must be a string");

polyrpc_metadata_add($md, "k-bin", "\x01\x02");
polyrpc_metadata_add($md, "plain", "v");
check(polyrpc_metadata_count($md) === 2, "metadata count");
check(polyrpc_metadata_get($md, 0) === ["k-bin", "\x01\x02"], "metadata get");
check(polyrpc_metadata_find($md, "plain") === "v", "metadata find");
$e = raises(PolyRPC\Native\Error::class, fn() => polyrpc_metadata_add($md, "Bad Key", "x"));
check($e !== null && $e->getCode() === POLYRPC_ERROR_INVALID_ARGUMENT, "bad key refused");
polyrpc_metadata_destroy($md);

$cq = polyrpc_cq_create();
check(polyrpc_cq_next($cq, 0) === [POLYRPC_EVENT_NONE, 0, 0], "empty poll");
polyrpc_cq_wake($cq);
check(polyrpc_cq_next($cq, 0) === [POLYRPC_EVENT_WAKEUP, 0, 0], "wake-up event");

$creds = polyrpc_server_credentials_create_insecure();
$server = polyrpc_server_create(null);
$port = polyrpc_server_add_listener($server, "127.0.0.1:0", $creds);
check(is_int($port) && $port > 0, "port out");
polyrpc_server_register_method($server, "/smoke.S/M");
polyrpc_server_start($server);
$server_tag = 1 << 40;
polyrpc_server_request_call_v2($server, $cq, $server_tag);

$ccreds = polyrpc_channel_credentials_create_insecure();
$ch = polyrpc_channel_create("127.0.0.1:$port", $ccreds, null);
$call = polyrpc_call_create($ch, "/smoke.S/M", 5000, null, 0);
polyrpc_call_send_message($call, $buf, POLYRPC_WRITE_LAST, $cq, 7);
polyrpc_call_recv_status($call, $cq, 8);

$seen = [];
$deadline = microtime(true) + 10;
while (!isset($seen[8]) && microtime(true) < $deadline) {
    [$type, $tag, $ok] = polyrpc_cq_next($cq, 1000);
    if ($type === POLYRPC_EVENT_NONE) continue;
    check($type === POLYRPC_EVENT_COMPLETE, "completion type");
    $seen[$tag] = $ok;
    if ($tag !== $server_tag) continue;
    check($ok === 1, "request completed");
    $sc = polyrpc_server_take_call($server, $server_tag);
    check(polyrpc_call_method($sc) === "/smoke.S/M", "server call method");
    $msg = polyrpc_call_read($sc);
    check(polyrpc_buffer_data($msg) === $bytes, "server read the request");
    check(polyrpc_call_read($sc) === null, "end of stream is null, not an error");
    polyrpc_call_send_status($sc, 5, "not here", null, null, 0);
    polyrpc_buffer_destroy($msg);
    polyrpc_call_destroy($sc);
}
check(($seen[7] ?? -1) === 1 && ($seen[8] ?? -1) === 1, "client completions");
check(polyrpc_call_status($call) === [5, "not here"], "status out");
$e = raises(PolyRPC\Native\Error::class, fn() => polyrpc_server_take_call($server, $server_tag));
check($e !== null && $e->getCode() === POLYRPC_ERROR_NOT_FOUND, "taken once");

polyrpc_call_destroy($call);
polyrpc_channel_destroy($ch);
polyrpc_server_destroy($server);
polyrpc_cq_destroy($cq);
polyrpc_buffer_destroy($buf);
polyrpc_channel_credentials_destroy($ccreds);
polyrpc_server_credentials_destroy($creds);
polyrpc_shutdown(-1);
echo "ok: php wrapper\n";
