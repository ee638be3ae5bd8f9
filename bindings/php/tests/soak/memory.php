<?php
// The full memory soak of issue #16: 100,000 calls of every kind in one php-cli process
// (VmRSS growth after warm-up must stay under 5%). Outside CI (several minutes):
//
//   bindings/php/php.sh bindings/php/tests/soak/memory.php [--calls=100000] [--target=HOST:PORT]
//
// Without --target it starts the C++ interop server of the build tree on a free port.

require dirname(__DIR__) . '/bootstrap.php';
require __DIR__ . '/memory_lib.php';

$opts = getopt('', ['calls::', 'target::']);
$calls = (int)($opts['calls'] ?? 100000);
$server = null;
if (isset($opts['target'])) {
    $target = $opts['target'];
} else {
    $port = polyrpc_free_port();
    $server = new TestProcess([POLYRPC_BUILD . '/conformance/cpp/polyrpc_interop_server', "--port=$port"], false, $port);
    $target = "127.0.0.1:$port";
}
$t0 = microtime(true);
$r = polyrpc_memory_run($target, $calls, fn($phase) => fprintf(STDERR, "%s at %.0f s, VmRSS %d KiB\n", $phase,
                                                               microtime(true) - $t0, polyrpc_rss_kib()));
$server?->stop();
foreach ($r['kinds'] as $kind => $k) {
    printf("%-17s %7d calls, %d errors, %6.1f s, %6.0f calls/s\n", $kind, $k['calls'], $k['errors'], $k['secs'],
           $k['calls'] / $k['secs']);
}
printf("VmRSS after warm-up %d KiB, at the end %d KiB: growth %.2f%% (limit 5%%)\n", $r['rss_warm'], $r['rss_end'],
       100 * $r['growth']);
$errors = array_sum(array_column($r['kinds'], 'errors'));
exit($r['growth'] < 0.05 && $errors === 0 ? 0 : 1);
