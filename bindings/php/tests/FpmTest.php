<?php
// The extension under Debian's php8.2-fpm, driven by cgi-fcgi (libfcgi-bin) on 127.0.0.1:
// a persistent channel survives from one request to the next of a worker, a worker's resident
// memory stays flat over many requests, and workers recycled by pm.max_requests, a reload
// (SIGUSR2) and a stop (SIGQUIT) leave no hung process. php-fpm runs with -n and the
// extension of the build tree (no php.ini of the machine), as root with -R.

use PHPUnit\Framework\TestCase;

final class FpmTest extends TestCase
{
    private static TestProcess $route;
    private string $dir;
    private int $port;
    private ?TestProcess $fpm = null;

    public static function setUpBeforeClass(): void
    {
        self::$route = polyrpc_route_server();
    }

    public static function tearDownAfterClass(): void
    {
        self::$route->stop();
    }

    protected function tearDown(): void
    {
        $this->fpm?->stop(SIGQUIT, 10);
        if (isset($this->dir)) {
            array_map('unlink', glob("$this->dir/*"));
            rmdir($this->dir);
        }
    }

    private static function fpmBinary(): string
    {
        foreach (['/usr/sbin/php-fpm8.2', '/usr/sbin/php-fpm'] as $b) {
            if (is_executable($b)) {
                return $b;
            }
        }
        self::fail('php-fpm not found (apt install php-fpm; scripts/bootstrap.sh)');
    }

    private function startFpm(int $maxRequests): void
    {
        if (!is_executable('/usr/bin/cgi-fcgi')) {
            $this->fail('cgi-fcgi not found (apt install libfcgi-bin; scripts/bootstrap.sh)');
        }
        $this->dir = sys_get_temp_dir() . '/polyrpc-fpm-' . getmypid() . '-' . mt_rand();
        mkdir($this->dir);
        $this->port = polyrpc_free_port();
        file_put_contents("$this->dir/fpm.conf", <<<CONF
[global]
pid = $this->dir/fpm.pid
error_log = $this->dir/fpm.log
log_level = notice
process_control_timeout = 5s

[test]
listen = 127.0.0.1:$this->port
pm = static
pm.max_children = 1
pm.max_requests = $maxRequests
catch_workers_output = yes
clear_env = no

CONF);
        $so = POLYRPC_BUILD . '/bindings/php/ext/modules/polyrpc.so';
        $argv = [self::fpmBinary(), '-n', '-d', 'extension=ctype', '-d', "extension=$so", '-F', '-R',
                 '-y', "$this->dir/fpm.conf"];
        $this->fpm = new TestProcess($argv, false, $this->port);
    }

    /** One request through cgi-fcgi: the application's JSON. */
    private function request(int $n = 0): array
    {
        $env = [
            'SCRIPT_FILENAME' => __DIR__ . '/fixtures/fpm_app.php', 'REQUEST_METHOD' => 'GET',
            'ROUTE_TARGET' => '127.0.0.1:' . self::$route->ports[0], 'POLYRPC_GEN' => POLYRPC_BUILD . '/bindings/php/gen',
            'N' => (string)$n, 'PATH' => getenv('PATH'),
        ];
        $p = proc_open(['timeout', '20', '/usr/bin/cgi-fcgi', '-bind', '-connect', "127.0.0.1:$this->port"],
                       [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env);
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        $rc = proc_close($p);
        $body = substr($out, (int)strpos($out, "\r\n\r\n") + 4);
        $json = json_decode($body, true);
        $this->assertIsArray($json, "request $n (cgi-fcgi exit $rc): $out $err\nfpm log: " .
                             @file_get_contents("$this->dir/fpm.log"));
        $this->assertSame(0, $json['code'], "request $n: the call's status");
        $this->assertSame("f7,$n", $json['name']);
        return $json;
    }

    public function testPersistentChannelSurvivesAcrossRequests(): void
    {
        $this->startFpm(0);
        $first = $this->request(1);
        $this->assertSame(-1, $first['before'], 'the first request of the worker finds no channel');
        $second = $this->request(2);
        $this->assertSame($first['pid'], $second['pid'], 'one worker (pm.max_children = 1)');
        $this->assertSame(\PolyRPC\CHANNEL_READY, $second['before'], 'the second request finds it connected');
        $this->assertSame(1, $second['channels']);
    }

    public function testWorkerMemoryIsFlatOverManyRequests(): void
    {
        $requests = (int)(getenv('POLYRPC_PHP_FPM_REQUESTS') ?: 2000);
        $this->startFpm(0);
        $warm = null;
        $pid = null;
        for ($i = 0; $i < $requests; $i++) {
            $r = $this->request($i);
            $pid ??= $r['pid'];
            $this->assertSame($pid, $r['pid']);
            if ($i === intdiv($requests, 10)) {
                $warm = $r['rss'];
            }
        }
        $end = $r['rss'];
        $this->assertSame(1, $r['channels']);
        $this->assertLessThan(1.05, $end / $warm, "worker VmRSS after warm-up $warm KiB, after $requests requests $end KiB");
    }

    public function testRecycledWorkersReloadAndStopLeaveNoProcess(): void
    {
        $this->startFpm(20);
        $pids = [];
        for ($i = 0; $i < 70; $i++) {
            $pids[$this->request($i)['pid']] = true;
        }
        $this->assertGreaterThanOrEqual(3, count($pids), 'pm.max_requests = 20 recycled the worker');
        $master = $this->fpm->pid();
        // Reload: the master re-executes itself and forks new workers.
        posix_kill($master, SIGUSR2);
        $ok = false;
        for ($i = 0; $i < 100 && !$ok; $i++) {
            usleep(100000);
            $log = (string)@file_get_contents("$this->dir/fpm.log");
            $ok = substr_count($log, 'ready to handle connections') >= 2;
        }
        $this->assertTrue($ok, "fpm reloaded: $log");
        $after = $this->request(100);
        $pids[$after['pid']] = true;
        $this->assertTrue($this->fpm->running());
        // Stop: every worker exits by itself (process_control_timeout would SIGKILL a hung one).
        $this->assertSame(0, $this->fpm->stop(SIGQUIT, 15), 'the master exited');
        $this->fpm = null;
        foreach (array_keys($pids) as $pid) {
            $gone = false;
            for ($i = 0; $i < 50 && !$gone; $i++) {
                $gone = !file_exists("/proc/$pid") || str_contains((string)@file_get_contents("/proc/$pid/stat"), ') Z ');
                usleep(20000);
            }
            $this->assertTrue($gone, "worker $pid is gone");
        }
        $log = file_get_contents("$this->dir/fpm.log");
        $this->assertStringNotContainsString('SIGKILL', $log, 'no worker had to be killed');
        $this->assertStringNotContainsString('exited on signal', $log, 'no worker crashed');
    }
}
