<?php
// Client interceptors (PolyRPC\Interceptor::intercept), grpc's API: order, changed metadata and
// options, every kind of call, and an interceptor that answers without the network.

use PHPUnit\Framework\TestCase;
use Polyrpc\Test\Common\Point;
use Polyrpc\Test\Routes\V1 as R;
use PolyRPC\Interceptor;

final class RecordingInterceptor extends Interceptor
{
    /** @var list<string> */
    public static array $log = [];

    public function __construct(private string $name)
    {
    }

    public function interceptUnaryUnary($method, $argument, $deserialize, $continuation, array $metadata = [],
                                        array $options = [])
    {
        self::$log[] = "$this->name unary $method";
        $metadata['x-echo-' . $this->name] = [$this->name];
        return $continuation($method, $argument, $deserialize, $metadata, $options);
    }

    public function interceptUnaryStream($method, $argument, $deserialize, $continuation, array $metadata = [],
                                         array $options = [])
    {
        self::$log[] = "$this->name server-stream";
        return $continuation($method, $argument, $deserialize, $metadata + ['x-echo-s' => ['1']], $options);
    }

    public function interceptStreamUnary($method, $deserialize, $continuation, array $metadata = [], array $options = [])
    {
        self::$log[] = "$this->name client-stream";
        return $continuation($method, $deserialize, $metadata, $options);
    }

    public function interceptStreamStream($method, $deserialize, $continuation, array $metadata = [], array $options = [])
    {
        self::$log[] = "$this->name bidi";
        return $continuation($method, $deserialize, $metadata, $options + ['timeout' => 5000000]);
    }
}

/** Answers GetFeature itself: the call never reaches the network. */
final class CachedCall extends PolyRPC\UnaryCall
{
    public function __construct(private $response)
    {
    }

    public function wait(): array
    {
        return [$this->response, PolyRPC\Status::ok()];
    }
}

final class CachingInterceptor extends Interceptor
{
    public function interceptUnaryUnary($method, $argument, $deserialize, $continuation, array $metadata = [],
                                        array $options = [])
    {
        return new CachedCall(new Polyrpc\Test\Common\Feature(['name' => 'cached']));
    }
}

final class InterceptorTest extends TestCase
{
    private static TestProcess $server;

    public static function setUpBeforeClass(): void
    {
        self::$server = polyrpc_route_server();
    }

    public static function tearDownAfterClass(): void
    {
        self::$server->stop();
    }

    private function channel(): PolyRPC\Channel
    {
        return new PolyRPC\Channel('127.0.0.1:' . self::$server->ports[0], ['credentials' => null]);
    }

    public function testOrderAndMetadataOfEveryKind(): void
    {
        RecordingInterceptor::$log = [];
        $ch = Interceptor::intercept($this->channel(), [new RecordingInterceptor('a'), new RecordingInterceptor('b')]);
        $client = new R\RouteGuideClient('ignored', [], $ch);
        $call = $client->GetFeature(new Point(['latitude' => 1]));
        $this->assertSame('f1,0', $call->response()->getName());
        $this->assertSame(['a'], $call->getMetadata()['x-echo-a']);
        $this->assertSame(['b'], $call->getMetadata()['x-echo-b']);
        $stream = $client->ListFeatures(new R\Rectangle(['lo' => new Point(['latitude' => 2])]));
        $this->assertCount(2, iterator_to_array($stream->responses(), false));
        $this->assertSame(['1'], $stream->getMetadata()['x-echo-s']);
        $cs = $client->RecordRoute();
        $cs->write(new Point(['latitude' => 5]));
        $this->assertSame(5, $cs->response()->getFeatureCount());
        $bidi = $client->RouteChat();
        $bidi->write(new R\RouteNote(['message' => 'hi']));
        $this->assertSame('echo: hi', $bidi->read()->getMessage());
        $bidi->writesDone();
        $this->assertSame(0, $bidi->getStatus()->code);
        $this->assertSame(['a unary /polyrpc.test.routes.v1.RouteGuide/GetFeature',
                           'b unary /polyrpc.test.routes.v1.RouteGuide/GetFeature',
                           'a server-stream', 'b server-stream', 'a client-stream', 'b client-stream',
                           'a bidi', 'b bidi'], RecordingInterceptor::$log);
        $this->assertSame('127.0.0.1:' . self::$server->ports[0], $client->getTarget());
    }

    public function testAnInterceptorMayAnswerItself(): void
    {
        $client = new R\RouteGuideClient('ignored', [], Interceptor::intercept($this->channel(), new CachingInterceptor()));
        $this->assertSame('cached', $client->GetFeature(new Point())->response()->getName());
    }

    public function testInterceptRejectsOtherObjects(): void
    {
        $this->expectException(TypeError::class);
        Interceptor::intercept($this->channel(), [new stdClass()]);
    }
}
