<?php
// The memory soak shared by MemoryTest (CI size) and soak/memory.php (the full run): $calls
// calls of each kind against a TestService at $target, VmRSS sampled after a warm-up (a tenth
// of the calls of every kind, at least 500) and at the end. $progress('warm') is called once
// the warm-up is done, $progress('end') at the end.

use Grpc\Testing as T;

/** @return array{kinds: array<string, array{calls: int, errors: int, secs: float}>, rss_warm: int, rss_end: int, growth: float} */
function polyrpc_memory_run(string $target, int $calls, callable $progress): array
{
    $client = new T\TestServiceClient($target, ['credentials' => PolyRPC\ChannelCredentials::createInsecure()]);
    $unaryReq = new T\SimpleRequest(['response_size' => 100, 'payload' => new T\Payload(['body' => str_repeat('x', 100)])]);
    $streamReq = new T\StreamingOutputCallRequest(['response_parameters' => [
        new T\ResponseParameters(['size' => 50]), new T\ResponseParameters(['size' => 50])]]);
    $inputReq = new T\StreamingInputCallRequest(['payload' => new T\Payload(['body' => str_repeat('y', 50)])]);
    $md = ['x-request-id' => ['soak'], 'x-trace-bin' => ["\x01\x02"]];
    $kinds = [
        'unary' => function () use ($client, $unaryReq, $md) {
            [$r, $st] = $client->UnaryCall($unaryReq, $md, ['timeout' => 10000000])->wait();
            return $st->code === 0 && strlen($r->getPayload()->getBody()) === 100;
        },
        'server_streaming' => function () use ($client, $streamReq, $md) {
            $call = $client->StreamingOutputCall($streamReq, $md, ['timeout' => 10000000]);
            $n = 0;
            foreach ($call->responses() as $r) {
                $n++;
            }
            return $n === 2 && $call->getStatus()->code === 0;
        },
        'client_streaming' => function () use ($client, $inputReq, $md) {
            $call = $client->StreamingInputCall($md, ['timeout' => 10000000]);
            $call->write($inputReq);
            $call->write($inputReq);
            [$r, $st] = $call->wait();
            return $st->code === 0 && $r->getAggregatedPayloadSize() === 100;
        },
        'bidi_streaming' => function () use ($client, $streamReq, $md) {
            $call = $client->FullDuplexCall($md, ['timeout' => 10000000]);
            $call->write($streamReq);
            $ok = $call->read() !== null && $call->read() !== null;
            $call->writesDone();
            return $ok && $call->read() === null && $call->getStatus()->code === 0 && $call->getMetadata() !== null;
        },
    ];
    $warmup = max(500, intdiv($calls, 10));
    foreach ($kinds as $fn) {
        for ($i = 0; $i < $warmup; $i++) {
            $fn();
        }
    }
    gc_collect_cycles();
    $progress('warm');
    $rssWarm = polyrpc_rss_kib();
    $out = [];
    foreach ($kinds as $kind => $fn) {
        $t0 = microtime(true);
        $errors = 0;
        for ($i = 0; $i < $calls; $i++) {
            if (!$fn()) {
                $errors++;
            }
        }
        $out[$kind] = ['calls' => $calls, 'errors' => $errors, 'secs' => microtime(true) - $t0];
    }
    gc_collect_cycles();
    $progress('end');
    $rssEnd = polyrpc_rss_kib();
    return ['kinds' => $out, 'rss_warm' => $rssWarm, 'rss_end' => $rssEnd, 'growth' => ($rssEnd - $rssWarm) / $rssWarm];
}
