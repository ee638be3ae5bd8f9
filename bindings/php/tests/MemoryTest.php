<?php
// Memory of a long-lived php-cli process: many calls of every kind, resident memory (VmRSS)
// flat after a warm-up (growth under 5%). The CI run makes POLYRPC_PHP_MEMORY_CALLS calls of
// each kind (default 20,000: 80,000 calls); bindings/php/tests/soak/memory.php runs the
// issue's full 100,000 of each. The peer is the C++ interop server, so that only this
// process's memory is measured; the PHP server's own is checked against the PHP client.

use PHPUnit\Framework\TestCase;
use Grpc\Testing as T;

final class MemoryTest extends TestCase
{
    public function testFlatResidentMemoryOverManyCallsOfEveryKind(): void
    {
        $calls = (int)(getenv('POLYRPC_PHP_MEMORY_CALLS') ?: 20000);
        $port = polyrpc_free_port();
        $s = new TestProcess([POLYRPC_BUILD . '/conformance/cpp/polyrpc_interop_server', "--port=$port"], false, $port);
        try {
            require_once __DIR__ . '/soak/memory_lib.php';
            $result = polyrpc_memory_run("127.0.0.1:$port", $calls, fn(string $line) => null);
            foreach ($result['kinds'] as $kind => $r) {
                $this->assertSame($calls, $r['calls'], "$kind: every call ran");
                $this->assertSame(0, $r['errors'], "$kind: no call failed");
            }
            $growth = $result['growth'];
            $this->assertLessThan(0.05, $growth, sprintf('VmRSS grew %.1f%% after warm-up (%d -> %d KiB)',
                                                         100 * $growth, $result['rss_warm'], $result['rss_end']));
        } finally {
            $s->stop();
        }
    }

    public function testThePhpServerStaysFlatToo(): void
    {
        $calls = (int)(getenv('POLYRPC_PHP_MEMORY_CALLS') ?: 20000) / 4;
        $port = polyrpc_free_port();
        $s = new TestProcess(array_merge(polyrpc_test_php(), [POLYRPC_ROOT . '/conformance/php/interop_server.php',
                                                              "--port=$port"]), false, $port);
        try {
            require_once __DIR__ . '/soak/memory_lib.php';
            $warm = null;
            $result = polyrpc_memory_run("127.0.0.1:$port", (int)$calls, function (string $phase) use ($s, &$warm) {
                if ($phase === 'warm') {
                    $warm = polyrpc_rss_kib((string)$s->pid());
                }
            });
            $end = polyrpc_rss_kib((string)$s->pid());
            foreach ($result['kinds'] as $kind => $r) {
                $this->assertSame(0, $r['errors'], "$kind: no call failed");
            }
            $this->assertGreaterThan(0, $warm);
            $this->assertLessThan(1.05, $end / $warm, "the PHP server's VmRSS: $warm -> $end KiB");
        } finally {
            $this->assertSame(0, $s->stop());
        }
    }
}
