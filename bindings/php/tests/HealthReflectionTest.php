<?php
// PolyRPC\Server::enableHealth() and enableReflection() in a php-cli server process
// (fixtures/health_server.php), checked from this process through the C ABI's own client as
// the extension exposes it: health Check calls with hand-encoded messages, and the library's
// reflection client (polyrpc_descriptor_pool_add_from_reflection).

use PHPUnit\Framework\TestCase;
use Polyrpc\Test\Common\Point;
use Polyrpc\Test\Routes\V1 as R;
use PolyRPC\ChannelCredentials;

final class HealthReflectionTest extends TestCase
{
    private static ?TestProcess $server = null;
    /** @var mixed polyrpc_channel_t */
    private static $channel = null;

    public static function setUpBeforeClass(): void
    {
        self::$server = new TestProcess(array_merge(polyrpc_test_php(), [__DIR__ . '/fixtures/health_server.php']));
        $creds = polyrpc_channel_credentials_create_insecure();
        self::$channel = polyrpc_channel_create('127.0.0.1:' . self::$server->ports[0], $creds, null);
        polyrpc_channel_credentials_destroy($creds);
    }

    public static function tearDownAfterClass(): void
    {
        polyrpc_channel_destroy(self::$channel);
        self::$server?->stop();
    }

    /** The status of a Check of $service, or -(gRPC code) when it fails. */
    private function check(string $service): int
    {
        $call = polyrpc_call_create(self::$channel, '/grpc.health.v1.Health/Check', 5000, null, 0);
        $req = polyrpc_buffer_create_copy($service === '' ? '' : "\x0a" . chr(strlen($service)) . $service);
        try {
            $resp = polyrpc_call_unary($call, $req);
            [$code] = polyrpc_call_status($call);
            if ($code !== 0) {
                return -$code;
            }
            $bytes = polyrpc_buffer_data($resp);
            polyrpc_buffer_destroy($resp);
            return $bytes === '' ? 0 : ord($bytes[1]);
        } finally {
            polyrpc_buffer_destroy($req);
            polyrpc_call_destroy($call);
        }
    }

    public function testHealthCheck(): void
    {
        $this->assertSame(PolyRPC\HealthService::SERVING, $this->check(''));
        $this->assertSame(PolyRPC\HealthService::NOT_SERVING, $this->check('polyrpc.test.routes.v1.RouteGuide'));
        $this->assertSame(-PolyRPC\STATUS_NOT_FOUND, $this->check('flip'));
        // A handler changes a status at run time.
        $client = new R\RouteGuideClient('127.0.0.1:' . self::$server->ports[0],
                                         ['credentials' => ChannelCredentials::createInsecure(), 'force_new' => true]);
        [$feature, $status] = $client->GetFeature(new Point(['latitude' => 42]))->wait();
        $this->assertSame(0, $status->code, (string)$status);
        $this->assertSame('flipped', $feature->getName());
        $this->assertSame(PolyRPC\HealthService::SERVING, $this->check('flip'));
    }

    public function testReflection(): void
    {
        $pool = polyrpc_descriptor_pool_create();
        try {
            polyrpc_descriptor_pool_add_from_reflection($pool, self::$channel, null, null, 5000);
            $services = [];
            for ($i = 0, $n = polyrpc_descriptor_pool_service_count($pool); $i < $n; $i++) {
                $services[] = polyrpc_descriptor_pool_service($pool, $i)[0];
            }
            sort($services);
            // Admin: not handled, but in the file set's route_guide.proto (the pool's services
            // are listed too).
            $this->assertSame(['grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection',
                               'grpc.reflection.v1alpha.ServerReflection', 'polyrpc.test.routes.v1.Admin',
                               'polyrpc.test.routes.v1.RouteGuide'],
                              $services);
            // Described with its imports: the request type lives in another file and package.
            [$kind, $path, $in] = polyrpc_descriptor_pool_find_method($pool, 'polyrpc.test.routes.v1.RouteGuide/GetFeature');
            $this->assertSame('polyrpc.test.common.Point', $in);
            $this->assertSame('/polyrpc.test.routes.v1.RouteGuide/GetFeature', $path);
        } finally {
            polyrpc_descriptor_pool_destroy($pool);
        }
    }

    public function testEnableChecks(): void
    {
        $server = new PolyRPC\Server(['handle_signals' => false]);
        $this->assertSame($server->enableHealth(), $server->enableHealth());
        $this->expectException(InvalidArgumentException::class);
        $server->enableReflection('not a descriptor set');
    }

    public function testStatusArguments(): void
    {
        $server = new PolyRPC\Server(['handle_signals' => false]);
        $health = $server->enableHealth();
        $health->set('a', 'SERVING');
        $health->clear('a');
        $this->expectException(InvalidArgumentException::class);
        $health->set('a', 7);
    }
}
