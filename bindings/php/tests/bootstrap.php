<?php
// PHPUnit bootstrap: the library, the generated classes of the build tree, and helpers that
// start the servers the tests talk to (PHP ones through bindings/php/php.sh, real gRPC ones
// from the build tree), each on 127.0.0.1 with a free port, stopped by PID.

require dirname(__DIR__) . '/autoload.php';

define('POLYRPC_ROOT', dirname(__DIR__, 3));
$build = getenv('POLYRPC_BUILD_DIR') ?: POLYRPC_ROOT . '/build';
define('POLYRPC_BUILD', $build[0] === '/' ? $build : POLYRPC_ROOT . '/' . $build);
putenv('POLYRPC_BUILD_DIR=' . POLYRPC_BUILD);
PolyRPC\Autoload::addDirectory(POLYRPC_BUILD . '/bindings/php/gen');
if (!is_file(POLYRPC_BUILD . '/bindings/php/gen/Grpc/Testing/TestServiceClient.php')) {
    fwrite(STDERR, 'no generated classes in ' . POLYRPC_BUILD . "/bindings/php/gen: run bindings/php/build.sh\n");
    exit(1);
}

/** A server process of the tests. */
final class TestProcess
{
    /** @var resource */
    private $proc;
    /** @var resource */
    private $stdout;
    public string $stderrFile;
    private bool $closed = false;
    private ?int $exitCode = null;
    /** @var list<int> */
    public array $ports = [];

    /**
     * Starts $argv; with $portsLine, waits (at most 20 s) for a "PORTS a b c" line on stdout;
     * otherwise for $waitPort to accept connections.
     */
    public function __construct(array $argv, bool $portsLine = true, int $waitPort = 0)
    {
        $this->stderrFile = tempnam(sys_get_temp_dir(), 'polyrpc-php-test-');
        $this->proc = proc_open($argv, [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'],
                                        2 => ['file', $this->stderrFile, 'w']], $pipes);
        if (!is_resource($this->proc)) {
            throw new RuntimeException('cannot start ' . implode(' ', $argv));
        }
        $this->stdout = $pipes[1];
        $deadline = microtime(true) + 20;
        if ($portsLine) {
            $line = '';
            while (microtime(true) < $deadline) {
                $r = [$this->stdout];
                $w = $e = null;
                if (stream_select($r, $w, $e, 0, 200000) > 0) {
                    $chunk = fgets($this->stdout);
                    if ($chunk === false) {
                        break;
                    }
                    $line .= $chunk;
                    if (str_ends_with($line, "\n")) {
                        break;
                    }
                }
            }
            if (!preg_match('/^PORTS ([\d ]+)$/', trim($line), $m)) {
                $err = file_get_contents($this->stderrFile);
                $this->stop();
                throw new RuntimeException('server did not start: ' . trim($line) . ' ' . $err);
            }
            $this->ports = array_map('intval', explode(' ', $m[1]));
        } else {
            while (microtime(true) < $deadline) {
                $s = @fsockopen('127.0.0.1', $waitPort, $errno, $errstr, 0.2);
                if ($s) {
                    fclose($s);
                    $this->ports = [$waitPort];
                    return;
                }
                usleep(50000);
            }
            $this->stop();
            throw new RuntimeException('server never accepted on port ' . $waitPort);
        }
    }

    /** Waits up to $seconds for the process to exit by itself; its exit code, or null if it did not. */
    public function wait(float $seconds): ?int
    {
        if ($this->closed) {
            return $this->exitCode;
        }
        $deadline = microtime(true) + $seconds;
        do {
            $status = proc_get_status($this->proc); // the exit code is given once: keep it
            if (!$status['running']) {
                $this->closed = true;
                proc_close($this->proc);
                return $this->exitCode = $status['exitcode'];
            }
            usleep(20000);
        } while (microtime(true) < $deadline);
        return null;
    }

    public function pid(): int
    {
        return proc_get_status($this->proc)['pid'];
    }

    public function running(): bool
    {
        return proc_get_status($this->proc)['running'];
    }

    /** Sends $signal and waits up to $seconds for the exit; returns the exit code (null: killed). */
    public function stop(int $signal = 15, float $seconds = 10.0): ?int
    {
        if ($this->closed) {
            return $this->exitCode;
        }
        $this->closed = true;
        $status = proc_get_status($this->proc);
        if ($status['running']) {
            posix_kill($status['pid'], $signal);
        }
        $deadline = microtime(true) + $seconds;
        while (($status = proc_get_status($this->proc))['running'] && microtime(true) < $deadline) {
            usleep(20000);
        }
        $code = null;
        // (a status already seen not running was consumed by wait(), which closed it)
        if ($status['running']) {
            posix_kill($status['pid'], 9);
            proc_close($this->proc);
        } else {
            $code = $status['exitcode'];
            proc_close($this->proc);
        }
        return $this->exitCode = $code;
    }

    public function stderr(): string
    {
        return (string)file_get_contents($this->stderrFile);
    }
}

function polyrpc_test_php(): array
{
    return [POLYRPC_ROOT . '/bindings/php/php.sh'];
}

/** The fixture server of the tests (fixtures/route_server.php). */
function polyrpc_route_server(): TestProcess
{
    return new TestProcess(array_merge(polyrpc_test_php(), [__DIR__ . '/fixtures/route_server.php']));
}

function polyrpc_free_port(): int
{
    $s = stream_socket_server('tcp://127.0.0.1:0');
    $name = stream_socket_get_name($s, false);
    fclose($s);
    return (int)substr($name, strrpos($name, ':') + 1);
}

function polyrpc_cert(string $name): string
{
    return file_get_contents(POLYRPC_BUILD . "/certs/$name");
}

/** VmRSS of a process in KiB (this one by default). */
function polyrpc_rss_kib(string $pid = 'self'): int
{
    $status = file_get_contents("/proc/$pid/status");
    return preg_match('/^VmRSS:\s+(\d+) kB/m', $status, $m) ? (int)$m[1] : 0;
}
