<?php
// Unary client loop on the PHP binding for bench/run: one php-cli process, one call in flight
// (PHP has one thread), the generated grpc.testing TestServiceClient as a PHP user writes it.
// Like the C ABI client (bench/c/polyrpc_bench_client_c.c), every response is parsed and its
// payload size checked.
//
//   bindings/php/php.sh bench/php/bench_client.php --target=127.0.0.1:PORT --duration=2 --warmup=0.3
//       [--serialize=once|each] [--busy_poll_us=N]
//
// --serialize=each (default) serializes the request on every call, as an application does;
// once serializes it once, as the C ABI client does (its protobuf-c request is packed once per
// thread), so that the two rows show the binding's cost and php-google-protobuf's apart.
// Prints one JSON line like the other client loops: {"ops":..,"rate":..,"p50_us":..,...}.

$root = dirname(__DIR__, 2);
require "$root/bindings/php/autoload.php";
$build = getenv('POLYRPC_BUILD_DIR') ?: "$root/build";
PolyRPC\Autoload::addDirectory("$build/bindings/php/gen");

use Grpc\Testing as T;

$o = getopt('', ['target:', 'duration::', 'warmup::', 'serialize::', 'busy_poll_us::', 'req_size::', 'resp_size::']);
$duration = (float)($o['duration'] ?? 2);
$warmup = (float)($o['warmup'] ?? 0.3);
$reqSize = (int)($o['req_size'] ?? 100);
$respSize = (int)($o['resp_size'] ?? 100);
$args = ['credentials' => PolyRPC\ChannelCredentials::createInsecure()];
if (isset($o['busy_poll_us'])) {
    $args['polyrpc.busy_poll_us'] = (int)$o['busy_poll_us'];
}
$client = new T\TestServiceClient($o['target'], $args);
if (!$client->waitForReady(10000000)) {
    fwrite(STDERR, "bench_client.php: {$o['target']} not ready\n");
    exit(1);
}

/** The request's bytes, made once (--serialize=once): what the client sends is then the same. */
final class PreSerialized
{
    public function __construct(private string $bytes)
    {
    }

    public function serializeToString(): string
    {
        return $this->bytes;
    }
}

/** The generated client plus a method that takes any message-like object (the stub's is typed). */
final class BenchClient extends T\TestServiceClient
{
    public function unary(object $req): PolyRPC\UnaryCall
    {
        return $this->_simpleRequest('/grpc.testing.TestService/UnaryCall', $req, [T\SimpleResponse::class, 'decode']);
    }
}

$client = new BenchClient($o['target'], $args);
$req = new T\SimpleRequest(['response_size' => $respSize, 'payload' => new T\Payload(['body' => str_repeat('x', $reqSize)])]);
$once = ($o['serialize'] ?? 'each') === 'once';
if ($once) {
    $req = new PreSerialized($req->serializeToString());
}
$ops = $errors = 0;
$lat = [];
$end = microtime(true) + $warmup + $duration;
$measureFrom = microtime(true) + $warmup;
$measuring = false;
$t0 = 0.0;
while (true) {
    $s = hrtime(true);
    [$resp, $status] = ($once ? $client->unary($req) : $client->UnaryCall($req))->wait();
    $e = hrtime(true);
    $ok = $status->code === 0 && strlen($resp->getPayload()->getBody()) === $respSize;
    $now = microtime(true);
    if (!$measuring) {
        if ($now < $measureFrom) {
            continue;
        }
        $measuring = true;
        $t0 = $now;
        continue;
    }
    $ops++;
    $errors += $ok ? 0 : 1;
    $lat[] = ($e - $s) / 1000;
    if ($now >= $end) {
        break;
    }
}
$secs = microtime(true) - $t0;
sort($lat);
$pct = fn(float $p) => $lat ? $lat[min(count($lat) - 1, (int)($p * count($lat)))] : 0.0;
echo json_encode(['ops' => $ops, 'secs' => round($secs, 4), 'rate' => round($ops / $secs, 1),
                  'p50_us' => round($pct(0.5), 1), 'p99_us' => round($pct(0.99), 1), 'errors' => $errors]), "\n";
exit($errors === 0 && $ops > 0 ? 0 : 1);
