<?php
// grpc.testing.TestService interop client on the polyrpc PHP binding: the generated
// Grpc\Testing\TestServiceClient (PolyRPC\BaseStub), as a grpc/grpc PHP user writes it. Two
// cases need more than a blocking PHP client offers and use the extension's native functions
// on a completion queue: concurrent_streams (100 unary calls and 8 streams in flight at once)
// and compression_unsupported (an arbitrary grpc-encoding label, a test hook).
//
//   bindings/php/php.sh conformance/php/interop_client.php --server_host=H --server_port=N
//       --test_case=NAME [--use_tls=true --use_test_ca=true --server_host_override=foo.test.google.fr]
//
// Exit status: 0 pass; 1 fail (one line on stderr says why); 2 unsupported case.

require __DIR__ . '/interop_common.php';

use Grpc\Testing as T;
use PolyRPC\Status;

const TIMEOUT_US = 20000000; // bounds every call: a broken peer fails the case instead of hanging it

final class CaseFailed extends Exception
{
}

function check(bool $cond, string $what): void
{
    if (!$cond) {
        throw new CaseFailed($what);
    }
}

function code_name(int $code): string
{
    return polyrpc_status_code_name($code);
}

function expect_status(Status $st, int $code, string $what): void
{
    check($st->code === $code, sprintf('%s: expected %s, got %s (%s)', $what, code_name($code), code_name($st->code),
                                       $st->details));
}

function expect_ok(Status $st, string $what): void
{
    expect_status($st, \PolyRPC\STATUS_OK, $what);
}

function zeros(int $n): string
{
    return str_repeat("\0", $n);
}

function expect_payload(?T\Payload $p, int $size, string $what): void
{
    check($p !== null, "$what: no payload");
    check($p->getType() === T\PayloadType::COMPRESSABLE, "$what: payload type " . $p->getType());
    check(strlen($p->getBody()) === $size, sprintf('%s: payload size %d, want %d', $what, strlen($p->getBody()), $size));
    check($p->getBody() === zeros($size), "$what: payload is not all zero bytes");
}

function large_request(array $extra = []): T\SimpleRequest
{
    return new T\SimpleRequest(['response_type' => T\PayloadType::COMPRESSABLE, 'response_size' => 314159,
                                'payload' => new T\Payload(['body' => zeros(271828)])] + $extra);
}

function streaming_request(int $responseSize, int $payloadSize, array $extra = []): T\StreamingOutputCallRequest
{
    return new T\StreamingOutputCallRequest([
        'response_type' => T\PayloadType::COMPRESSABLE,
        'response_parameters' => [new T\ResponseParameters(['size' => $responseSize])],
        'payload' => new T\Payload(['body' => zeros($payloadSize)]),
    ] + $extra);
}

/** [$response, $status] of a unary call that must succeed. */
function unary_ok(\PolyRPC\UnaryCall $call, string $what)
{
    [$response, $status] = $call->wait();
    expect_ok($status, $what);
    return $response;
}

final class Ctx
{
    public T\TestServiceClient $stub;

    public function __construct(public array $flags)
    {
        $this->stub = $this->client([]);
    }

    public function target(): string
    {
        return $this->flags['server_host'] . ':' . $this->flags['server_port'];
    }

    /** A client on a channel of its own (force_new) with these extra channel arguments. */
    public function client(array $args, string $service = T\TestServiceClient::class)
    {
        $f = $this->flags;
        if ($f['server_host_override'] !== '') {
            $args['grpc.default_authority'] = $f['server_host_override'];
        }
        if ($f['use_tls']) {
            if ($f['server_host_override'] !== '') {
                $args['grpc.ssl_target_name_override'] = $f['server_host_override'];
            }
            $root = $f['use_test_ca'] ? interop_read_cert($f['cert_dir'], 'ca.pem') : null;
            $args['credentials'] = PolyRPC\ChannelCredentials::createSsl($root);
        } else {
            $args['credentials'] = PolyRPC\ChannelCredentials::createInsecure();
        }
        return new $service($this->target(), $args);
    }
}

const PING_PONG = [[31415, 27182], [9, 8], [2653, 1828], [58979, 45904]];
const ECHO_INITIAL = 'x-grpc-test-echo-initial';
const ECHO_TRAILING = 'x-grpc-test-echo-trailing-bin';

// ---- gRPC's cases (doc/interop-test-descriptions.md) ----------------------------------------

function empty_unary(Ctx $c): void
{
    $r = unary_ok($c->stub->EmptyCall(new T\PBEmpty(), [], ['timeout' => TIMEOUT_US]), 'EmptyCall');
    check($r instanceof T\PBEmpty && $r->serializeToString() === '', 'response is not an empty Empty');
}

function large_unary(Ctx $c): void
{
    $r = unary_ok($c->stub->UnaryCall(large_request(), [], ['timeout' => TIMEOUT_US]), 'UnaryCall');
    expect_payload($r->getPayload(), 314159, 'UnaryCall');
}

function client_streaming(Ctx $c): void
{
    $call = $c->stub->StreamingInputCall([], ['timeout' => TIMEOUT_US]);
    foreach ([27182, 8, 1828, 45904] as $n) {
        check($call->write(new T\StreamingInputCallRequest(['payload' => new T\Payload(['body' => zeros($n)])])),
              "write of $n bytes failed");
    }
    [$r, $st] = $call->wait();
    expect_ok($st, 'StreamingInputCall');
    check($r->getAggregatedPayloadSize() === 74922, 'aggregated_payload_size ' . $r->getAggregatedPayloadSize());
}

function server_streaming(Ctx $c): void
{
    $sizes = [31415, 9, 2653, 58979];
    $req = new T\StreamingOutputCallRequest(['response_type' => T\PayloadType::COMPRESSABLE,
        'response_parameters' => array_map(fn($n) => new T\ResponseParameters(['size' => $n]), $sizes)]);
    $call = $c->stub->StreamingOutputCall($req, [], ['timeout' => TIMEOUT_US]);
    $got = iterator_to_array($call->responses(), false);
    expect_ok($call->getStatus(), 'StreamingOutputCall');
    check(count($got) === 4, 'got ' . count($got) . ' responses');
    foreach ($sizes as $i => $n) {
        expect_payload($got[$i]->getPayload(), $n, "response $i");
    }
}

function expect_end(\PolyRPC\BidiStreamingCall $call, string $what): void
{
    $extra = $call->read();
    $st = $call->getStatus();
    check($extra === null, "$what: unexpected extra response");
    expect_ok($st, $what);
}

function ping_pong(Ctx $c): void
{
    $call = $c->stub->FullDuplexCall([], ['timeout' => TIMEOUT_US]);
    foreach (PING_PONG as $i => [$resp, $payload]) {
        $call->write(streaming_request($resp, $payload));
        $r = $call->read();
        if ($r === null) {
            throw new CaseFailed("round $i: stream ended early (" . $call->getStatus() . ')');
        }
        expect_payload($r->getPayload(), $resp, "round $i");
    }
    $call->writesDone();
    expect_end($call, 'FullDuplexCall');
}

function empty_stream(Ctx $c): void
{
    $call = $c->stub->FullDuplexCall([], ['timeout' => TIMEOUT_US]);
    $call->writesDone();
    expect_end($call, 'FullDuplexCall');
}

function cancel_after_begin(Ctx $c): void
{
    $call = $c->stub->StreamingInputCall([], ['timeout' => TIMEOUT_US]);
    $call->cancel();
    [$r, $st] = $call->wait();
    check($r === null, 'a response after cancel');
    expect_status($st, \PolyRPC\STATUS_CANCELLED, 'StreamingInputCall');
}

function cancel_after_first_response(Ctx $c): void
{
    $call = $c->stub->FullDuplexCall([], ['timeout' => TIMEOUT_US]);
    $call->write(streaming_request(31415, 27182));
    $r = $call->read();
    check($r !== null, 'no first response');
    expect_payload($r->getPayload(), 31415, 'first response');
    $call->cancel();
    check($call->read() === null, 'stream continued after cancel');
    expect_status($call->getStatus(), \PolyRPC\STATUS_CANCELLED, 'FullDuplexCall');
}

function timeout_on_sleeping_server(Ctx $c): void
{
    $call = $c->stub->FullDuplexCall([], ['timeout' => 1000]);
    $call->write(new T\StreamingOutputCallRequest(['payload' => new T\Payload(['body' => zeros(27182)])]));
    check($call->read() === null, 'got a response despite the 1 ms deadline');
    expect_status($call->getStatus(), \PolyRPC\STATUS_DEADLINE_EXCEEDED, 'FullDuplexCall');
}

function check_echo(array $initial, array $trailing, string $iv, string $tv, string $what): void
{
    check(($initial[ECHO_INITIAL] ?? null) === [$iv], "$what: initial metadata echo " . json_encode($initial[ECHO_INITIAL] ?? null));
    check(($trailing[ECHO_TRAILING] ?? null) === [$tv], "$what: trailing metadata echo " . bin2hex(($trailing[ECHO_TRAILING] ?? [''])[0]));
}

function metadata_echo(Ctx $c, string $iv, string $tv, T\SimpleRequest $unary, T\StreamingOutputCallRequest $duplex,
                       int $unarySize, int $duplexSize): void
{
    $md = [ECHO_INITIAL => [$iv], ECHO_TRAILING => [$tv]];
    $call = $c->stub->UnaryCall($unary, $md, ['timeout' => TIMEOUT_US]);
    $r = unary_ok($call, 'UnaryCall');
    expect_payload($r->getPayload(), $unarySize, 'UnaryCall');
    check_echo($call->getMetadata(), $call->getTrailingMetadata(), $iv, $tv, 'UnaryCall');
    $call = $c->stub->FullDuplexCall($md, ['timeout' => TIMEOUT_US]);
    $call->write($duplex);
    $r = $call->read();
    if ($r === null) {
        throw new CaseFailed('FullDuplexCall: no response (' . $call->getStatus() . ')');
    }
    expect_payload($r->getPayload(), $duplexSize, 'FullDuplexCall');
    $call->writesDone();
    expect_end($call, 'FullDuplexCall');
    check_echo($call->getMetadata(), $call->getTrailingMetadata(), $iv, $tv, 'FullDuplexCall');
}

function custom_metadata(Ctx $c): void
{
    metadata_echo($c, 'test_initial_metadata_value', "\x0a\x0b\x0a\x0b\x0a\x0b", large_request(),
                  streaming_request(314159, 271828), 314159, 314159);
}

function status_echo(Ctx $c, string $message, bool $withDuplex): void
{
    $status = new T\EchoStatus(['code' => 2, 'message' => $message]);
    $req = new T\SimpleRequest(['response_type' => T\PayloadType::COMPRESSABLE, 'response_size' => 1,
                                'payload' => new T\Payload(['body' => zeros(1)]), 'response_status' => $status]);
    [$r, $st] = $c->stub->UnaryCall($req, [], ['timeout' => TIMEOUT_US])->wait();
    check($r === null, 'UnaryCall: a response with an error status');
    expect_status($st, \PolyRPC\STATUS_UNKNOWN, 'UnaryCall');
    check($st->details === $message, 'UnaryCall: message ' . json_encode($st->details));
    if (!$withDuplex) {
        return;
    }
    $call = $c->stub->FullDuplexCall([], ['timeout' => TIMEOUT_US]);
    $call->write(streaming_request(1, 1, ['response_status' => $status]));
    $call->writesDone();
    while ($call->read() !== null) {
    }
    $st = $call->getStatus();
    expect_status($st, \PolyRPC\STATUS_UNKNOWN, 'FullDuplexCall');
    check($st->details === $message, 'FullDuplexCall: message ' . json_encode($st->details));
}

function status_code_and_message(Ctx $c): void
{
    status_echo($c, 'test status message', true);
}

function special_status_message(Ctx $c): void
{
    status_echo($c, "\t\ntest with whitespace\r\nand Unicode BMP \u{263a} and non-BMP \u{1f608}\t\n", false);
}

function unimplemented_method(Ctx $c): void
{
    [, $st] = $c->stub->UnimplementedCall(new T\PBEmpty(), [], ['timeout' => TIMEOUT_US])->wait();
    expect_status($st, \PolyRPC\STATUS_UNIMPLEMENTED, 'UnimplementedCall');
}

function unimplemented_service(Ctx $c): void
{
    $stub = $c->client([], T\UnimplementedServiceClient::class);
    [, $st] = $stub->UnimplementedCall(new T\PBEmpty(), [], ['timeout' => TIMEOUT_US])->wait();
    expect_status($st, \PolyRPC\STATUS_UNIMPLEMENTED, 'UnimplementedService.UnimplementedCall');
}

function client_compressed_unary(Ctx $c): void
{
    $probe = large_request(['expect_compressed' => new T\BoolValue(['value' => true])]);
    [, $st] = $c->stub->UnaryCall($probe, [], ['timeout' => TIMEOUT_US])->wait();
    expect_status($st, \PolyRPC\STATUS_INVALID_ARGUMENT, 'probe (uncompressed, expect_compressed)');
    $r = unary_ok($c->stub->UnaryCall($probe, [], ['timeout' => TIMEOUT_US, 'compression' => 'gzip']), 'compressed');
    expect_payload($r->getPayload(), 314159, 'compressed request');
    $plain = large_request(['expect_compressed' => new T\BoolValue(['value' => false])]);
    $r = unary_ok($c->stub->UnaryCall($plain, [], ['timeout' => TIMEOUT_US]), 'uncompressed');
    expect_payload($r->getPayload(), 314159, 'uncompressed request');
}

function server_compressed_unary(Ctx $c): void
{
    foreach ([true, false] as $compressed) {
        $req = large_request(['response_compressed' => new T\BoolValue(['value' => $compressed])]);
        $r = unary_ok($c->stub->UnaryCall($req, [], ['timeout' => TIMEOUT_US]), "response_compressed=$compressed");
        expect_payload($r->getPayload(), 314159, "response_compressed=$compressed");
    }
}

function server_compressed_streaming(Ctx $c): void
{
    $req = new T\StreamingOutputCallRequest(['response_type' => T\PayloadType::COMPRESSABLE, 'response_parameters' => [
        new T\ResponseParameters(['size' => 31415, 'compressed' => new T\BoolValue(['value' => true])]),
        new T\ResponseParameters(['size' => 92653, 'compressed' => new T\BoolValue(['value' => false])]),
    ]]);
    $call = $c->stub->StreamingOutputCall($req, [], ['timeout' => TIMEOUT_US]);
    $got = iterator_to_array($call->responses(), false);
    expect_ok($call->getStatus(), 'StreamingOutputCall');
    check(count($got) === 2, 'got ' . count($got) . ' responses');
    expect_payload($got[0]->getPayload(), 31415, 'response 0');
    expect_payload($got[1]->getPayload(), 92653, 'response 1');
}

function client_compressed_streaming(Ctx $c): void
{
    $req = fn(int $n, bool $expect) => new T\StreamingInputCallRequest([
        'payload' => new T\Payload(['body' => zeros($n)]), 'expect_compressed' => new T\BoolValue(['value' => $expect])]);
    // Probe: an uncompressed message that claims expect_compressed must be refused.
    $call = $c->stub->StreamingInputCall([], ['timeout' => TIMEOUT_US]);
    $call->write($req(27182, true), ['flags' => \PolyRPC\WRITE_NO_COMPRESS]);
    expect_status($call->wait()[1], \PolyRPC\STATUS_INVALID_ARGUMENT, 'probe');
    // The stream: the first message compressed, the second not.
    $call = $c->stub->StreamingInputCall([], ['timeout' => TIMEOUT_US, 'compression' => 'gzip']);
    check($call->write($req(27182, true)), 'send 1 failed');
    check($call->write($req(45904, false), ['flags' => \PolyRPC\WRITE_NO_COMPRESS]), 'send 2 failed');
    [$r, $st] = $call->wait();
    expect_ok($st, 'stream');
    check($r->getAggregatedPayloadSize() === 73086, 'aggregated_payload_size ' . $r->getAggregatedPayloadSize());
}

// ---- polyrpc's cases (conformance/cases.json) -----------------------------------------------

function metadata_binary_unicode(Ctx $c): void
{
    $initial = "polyrpc ~!#$%&'()*+,-./:;<=>?@[\\]^_`{|}";
    $trailing = implode('', array_map('chr', range(0, 255))) . "h\u{e9}llo w\u{f6}rld \u{2713} \u{65e5}\u{672c}\u{8a9e} \u{1f680}";
    $unary = new T\SimpleRequest(['response_type' => T\PayloadType::COMPRESSABLE, 'response_size' => 1,
                                  'payload' => new T\Payload(['body' => zeros(1)])]);
    $duplex = new T\StreamingOutputCallRequest(['response_type' => T\PayloadType::COMPRESSABLE,
                                                'response_parameters' => [new T\ResponseParameters(['size' => 1])]]);
    metadata_echo($c, $initial, $trailing, $unary, $duplex, 1, 1);
}

function large_message_4mib(Ctx $c): void
{
    $size = 4194240;
    $req = new T\SimpleRequest(['response_type' => T\PayloadType::COMPRESSABLE, 'response_size' => $size,
                                'payload' => new T\Payload(['body' => zeros($size)])]);
    $r = unary_ok($c->stub->UnaryCall($req, [], ['timeout' => TIMEOUT_US]), 'UnaryCall');
    expect_payload($r->getPayload(), $size, 'UnaryCall');
}

/** 100 unary calls and 8 server streams in flight at once on one channel, on a completion queue. */
function concurrent_streams(Ctx $c): void
{
    $ch = $c->stub->getChannel()->handle();
    $cq = polyrpc_cq_create();
    $calls = [];
    $authority = $c->flags['server_host_override'];
    $start = function (string $method, string $bytes) use ($ch, $cq, &$calls, $authority) {
        $i = count($calls);
        $call = polyrpc_call_create($ch, "/grpc.testing.TestService/$method", 20000, null, 0);
        $buf = polyrpc_buffer_create_copy($bytes);
        polyrpc_call_send_message($call, $buf, POLYRPC_WRITE_LAST, $cq, 1000 * $i + 1);
        polyrpc_buffer_destroy($buf);
        polyrpc_call_recv_message($call, $cq, 1000 * $i + 2);
        polyrpc_call_recv_status($call, $cq, 1000 * $i + 3);
        $calls[] = ['call' => $call, 'method' => $method, 'msgs' => [], 'done' => false];
    };
    for ($i = 0; $i < 100; $i++) {
        $start('UnaryCall', (new T\SimpleRequest(['response_type' => T\PayloadType::COMPRESSABLE, 'response_size' => $i + 1,
            'payload' => new T\Payload(['body' => zeros(1)])]))->serializeToString());
    }
    $stream = new T\StreamingOutputCallRequest(['response_type' => T\PayloadType::COMPRESSABLE,
        'response_parameters' => array_map(fn() => new T\ResponseParameters(['size' => 10]), range(1, 5))]);
    for ($i = 0; $i < 8; $i++) {
        $start('StreamingOutputCall', $stream->serializeToString());
    }
    // Each call is done once its stream has ended (a receive with success=0) and its status came.
    $pending = 2 * count($calls);
    $deadline = microtime(true) + 20;
    $errors = [];
    while ($pending > 0 && microtime(true) < $deadline) {
        [$type, $tag, $ok] = polyrpc_cq_next($cq, 1000);
        if ($type !== POLYRPC_EVENT_COMPLETE) {
            continue;
        }
        $i = intdiv($tag, 1000);
        $what = $tag % 1000;
        $call = $calls[$i]['call'];
        if ($what === 1 && !$ok) {
            $errors[] = "call $i: the request did not go";
        } elseif ($what === 2 && $ok) {
            [$buf] = polyrpc_call_take_message($call);
            $calls[$i]['msgs'][] = polyrpc_buffer_data($buf);
            polyrpc_buffer_destroy($buf);
            polyrpc_call_recv_message($call, $cq, 1000 * $i + 2);
        } elseif ($what === 2) {
            $pending--;
        } elseif ($what === 3) {
            $pending--;
            [$code, $details] = polyrpc_call_status($call);
            if ($code !== 0) {
                $errors[] = "call $i: " . code_name($code) . " ($details)";
            }
        }
    }
    check($pending === 0, "$pending calls did not finish");
    foreach ($calls as $i => $c2) {
        if ($c2['method'] === 'UnaryCall') {
            $r = new T\SimpleResponse();
            if (count($c2['msgs']) !== 1) {
                $errors[] = "unary $i: " . count($c2['msgs']) . ' responses';
                continue;
            }
            $r->mergeFromString($c2['msgs'][0]);
            if (strlen($r->getPayload()->getBody()) !== $i + 1) {
                $errors[] = "unary $i: size " . strlen($r->getPayload()->getBody());
            }
        } else {
            $sizes = array_map(function ($m) {
                $r = new T\StreamingOutputCallResponse();
                $r->mergeFromString($m);
                return strlen($r->getPayload()->getBody());
            }, $c2['msgs']);
            if ($sizes !== [10, 10, 10, 10, 10]) {
                $errors[] = "stream $i: wrong responses " . json_encode($sizes);
            }
        }
    }
    // Every operation above has completed (its status came): the calls and the queue go now.
    foreach ($calls as $c2) {
        polyrpc_call_destroy($c2['call']);
    }
    polyrpc_cq_shutdown($cq);
    polyrpc_cq_destroy($cq);
    check(!$errors, implode('; ', array_slice($errors, 0, 5)));
}

function deadline_propagation(Ctx $c): void
{
    $req = new T\SimpleRequest(['response_type' => T\PayloadType::COMPRESSABLE, 'response_size' => 1,
                                'payload' => new T\Payload(['body' => zeros(1)])]);
    $call = $c->stub->UnaryCall($req, ['x-polyrpc-echo-deadline' => ['1']], ['timeout' => 5000000]);
    unary_ok($call, '(a) UnaryCall');
    $values = $call->getTrailingMetadata()['x-polyrpc-time-remaining-ms'] ?? [];
    check(count($values) === 1, '(a) trailing x-polyrpc-time-remaining-ms: ' . json_encode($values));
    check(preg_match('/^-?\d+$/', $values[0]) === 1, '(a) not an integer: ' . $values[0]);
    $left = (int)$values[0];
    check($left > 0 && $left <= 5000, "(a) remaining $left ms not in (0, 5000]");
    $stream = new T\StreamingOutputCallRequest(['response_type' => T\PayloadType::COMPRESSABLE,
        'response_parameters' => array_map(fn() => new T\ResponseParameters(['size' => 1, 'interval_us' => 200000]), range(1, 10))]);
    $t0 = microtime(true);
    $call = $c->stub->StreamingOutputCall($stream, [], ['timeout' => 1000000]);
    $received = 0;
    foreach ($call->responses() as $r) {
        $received++;
    }
    expect_status($call->getStatus(), \PolyRPC\STATUS_DEADLINE_EXCEEDED, '(b) StreamingOutputCall');
    $elapsed = microtime(true) - $t0;
    check($received >= 1 && $received < 10, "(b) received $received responses");
    check($elapsed < 3.0, sprintf('(b) took %.2f s', $elapsed));
}

function max_message_size(Ctx $c): void
{
    $small = $c->client(['grpc.max_receive_message_length' => 1024 * 1024, 'force_new' => true]);
    [, $st] = $small->UnaryCall(new T\SimpleRequest(['response_type' => T\PayloadType::COMPRESSABLE, 'response_size' => 2097152]),
                                [], ['timeout' => TIMEOUT_US])->wait();
    expect_status($st, \PolyRPC\STATUS_RESOURCE_EXHAUSTED, '(a) 2 MiB response, 1 MiB limit');
    $small->close();
    [, $st] = $c->stub->UnaryCall(new T\SimpleRequest(['response_type' => T\PayloadType::COMPRESSABLE, 'response_size' => 1,
        'payload' => new T\Payload(['body' => zeros(5242880)])]), [], ['timeout' => TIMEOUT_US])->wait();
    expect_status($st, \PolyRPC\STATUS_RESOURCE_EXHAUSTED, '(b) 5 MiB request');
    $r = unary_ok($c->stub->UnaryCall(new T\SimpleRequest(['response_type' => T\PayloadType::COMPRESSABLE, 'response_size' => 10,
        'payload' => new T\Payload(['body' => zeros(10)])]), [], ['timeout' => TIMEOUT_US]), '(c) small call');
    expect_payload($r->getPayload(), 10, '(c) small call');
}

function cancel_mid_bidi(Ctx $c): void
{
    $call = $c->stub->FullDuplexCall([], ['timeout' => TIMEOUT_US]);
    foreach (array_slice(PING_PONG, 0, 2) as $i => [$resp, $payload]) {
        $call->write(streaming_request($resp, $payload));
        $r = $call->read();
        check($r !== null, "round $i: stream ended early");
        expect_payload($r->getPayload(), $resp, "round $i");
    }
    $call->cancel();
    check($call->read() === null, 'stream continued after cancel');
    expect_status($call->getStatus(), \PolyRPC\STATUS_CANCELLED, 'FullDuplexCall');
    $r = unary_ok($c->stub->UnaryCall(new T\SimpleRequest(['response_type' => T\PayloadType::COMPRESSABLE, 'response_size' => 1]),
                                      [], ['timeout' => TIMEOUT_US]), 'UnaryCall after cancel');
    expect_payload($r->getPayload(), 1, 'UnaryCall after cancel');
}

function server_closes_connection(Ctx $c): void
{
    $req = new T\StreamingOutputCallRequest(['response_type' => T\PayloadType::COMPRESSABLE,
        'response_parameters' => array_map(fn() => new T\ResponseParameters(['size' => 10, 'interval_us' => 100000]), range(1, 4))]);
    $t0 = microtime(true);
    $call = $c->stub->StreamingOutputCall($req, ['x-polyrpc-close-connection' => ['1']], ['timeout' => TIMEOUT_US]);
    $received = 0;
    foreach ($call->responses() as $r) {
        expect_payload($r->getPayload(), 10, "response $received");
        $received++;
    }
    expect_status($call->getStatus(), \PolyRPC\STATUS_UNAVAILABLE, 'StreamingOutputCall');
    check($received >= 1, 'no response before the connection closed');
    check(microtime(true) - $t0 < 5.0, 'UNAVAILABLE took too long');
    $r = unary_ok($c->stub->UnaryCall(new T\SimpleRequest(['response_type' => T\PayloadType::COMPRESSABLE, 'response_size' => 1]),
                                      [], ['timeout' => TIMEOUT_US, 'wait_for_ready' => true]), 'UnaryCall after reconnect');
    expect_payload($r->getPayload(), 1, 'UnaryCall after reconnect');
}

function compression_unsupported(Ctx $c): void
{
    $call = polyrpc_call_create($c->stub->getChannel()->handle(), '/grpc.testing.TestService/UnaryCall', 20000, null, 0);
    try {
        if ($c->flags['server_host_override'] !== '') {
            polyrpc_call_set_authority($call, $c->flags['server_host_override']);
        }
        polyrpc_call_set_compression($call, 'gzip');
        polyrpc_call_set_encoding_label_for_testing($call, 'x-polyrpc-unknown');
        $req = new T\SimpleRequest(['response_type' => T\PayloadType::COMPRESSABLE, 'response_size' => 1,
                                    'payload' => new T\Payload(['body' => zeros(100)])]);
        $buf = polyrpc_buffer_create_copy($req->serializeToString());
        $resp = polyrpc_call_unary($call, $buf);
        polyrpc_buffer_destroy($buf);
        if ($resp !== null) {
            polyrpc_buffer_destroy($resp);
        }
        [$code, $details] = polyrpc_call_status($call);
        check($code === \PolyRPC\STATUS_UNIMPLEMENTED, 'expected UNIMPLEMENTED, got ' . code_name($code) . " ($details)");
    } finally {
        polyrpc_call_destroy($call);
    }
}

const CASES = [
    'empty_unary', 'large_unary', 'client_streaming', 'server_streaming', 'ping_pong', 'empty_stream',
    'cancel_after_begin', 'cancel_after_first_response', 'timeout_on_sleeping_server', 'custom_metadata',
    'status_code_and_message', 'special_status_message', 'unimplemented_method', 'unimplemented_service',
    'client_compressed_unary', 'server_compressed_unary', 'server_compressed_streaming',
    'client_compressed_streaming', 'metadata_binary_unicode', 'large_message_4mib', 'concurrent_streams',
    'deadline_propagation', 'max_message_size', 'cancel_mid_bidi', 'server_closes_connection',
    'compression_unsupported',
];

$flags = interop_flags($argv, ['server_host' => 'localhost', 'server_port' => 0, 'server_host_override' => '',
                               'test_case' => '', 'use_tls' => false, 'use_test_ca' => false,
                               'cert_dir' => interop_default_cert_dir()]);
$name = $flags['test_case'];
if (!in_array($name, CASES, true)) {
    fwrite(STDERR, "unsupported test case: $name\n");
    exit(2);
}
if ($flags['server_port'] <= 0) {
    fwrite(STDERR, "--server_port=N is required\n");
    exit(2);
}
try {
    $ctx = new Ctx($flags);
    $name($ctx);
} catch (CaseFailed $e) {
    fwrite(STDERR, "$name failed: " . $e->getMessage() . "\n");
    exit(1);
} catch (Throwable $e) {
    fwrite(STDERR, "$name failed: " . get_class($e) . ': ' . $e->getMessage() . "\n");
    exit(1);
}
exit(0);
