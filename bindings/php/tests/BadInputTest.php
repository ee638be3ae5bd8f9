<?php
// Bad input from PHP code: wrong types are TypeErrors, wrong values InvalidArgumentExceptions,
// misuse of the native layer PolyRPC\Native\Error; never a crash or a hang. Oversized
// messages end their call with RESOURCE_EXHAUSTED.

use PHPUnit\Framework\TestCase;
use Polyrpc\Test\Common\Point;
use Polyrpc\Test\Routes\V1 as R;
use PolyRPC\ChannelCredentials;

final class BadInputTest extends TestCase
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

    private function client(): R\RouteGuideClient
    {
        return new R\RouteGuideClient('127.0.0.1:' . self::$server->ports[0],
                                      ['credentials' => ChannelCredentials::createInsecure()]);
    }

    public function testWrongRequestTypeIsATypeError(): void
    {
        $this->expectException(TypeError::class);
        $this->client()->GetFeature(new R\Rectangle());
    }

    public function testRequestThatIsNotAMessage(): void
    {
        $this->expectException(TypeError::class);
        $this->client()->RecordRoute()->write('just a string');
    }

    public function testMetadataMustBeAnArray(): void
    {
        $this->expectException(TypeError::class);
        $this->client()->GetFeature(new Point(), 'x-key: v');
    }

    public function testMetadataValuesMustBeStrings(): void
    {
        $this->expectException(TypeError::class);
        $this->expectExceptionMessage("metadata value of 'x-n' must be a string, not int");
        $this->client()->GetFeature(new Point(), ['x-n' => [42]]);
    }

    public function testInvalidMetadataKey(): void
    {
        $this->expectException(InvalidArgumentException::class);
        $this->client()->GetFeature(new Point(), ['bad key' => ['v']]);
    }

    public function testReservedMetadataKey(): void
    {
        $this->expectException(InvalidArgumentException::class);
        $this->client()->GetFeature(new Point(), ['content-type' => ['text/plain']]);
    }

    public function testNonPrintableValueOnATextKey(): void
    {
        $this->expectException(InvalidArgumentException::class);
        $this->client()->GetFeature(new Point(), ['x-text' => ["\x01\x02"]]);
    }

    public function testTimeoutMustBeANumber(): void
    {
        $this->expectException(TypeError::class);
        $this->client()->GetFeature(new Point(), [], ['timeout' => '1s']);
    }

    public function testCallCredentialsCallbackMustReturnAnArray(): void
    {
        $this->expectException(TypeError::class);
        $this->client()->GetFeature(new Point(), [], ['call_credentials_callback' => fn() => 'token']);
    }

    public function testChannelNeedsCredentials(): void
    {
        $this->expectException(InvalidArgumentException::class);
        $this->expectExceptionMessage("'credentials'");
        new PolyRPC\Channel('127.0.0.1:1', []);
    }

    public function testChannelCredentialsOfTheWrongType(): void
    {
        $this->expectException(TypeError::class);
        new PolyRPC\Channel('127.0.0.1:1', ['credentials' => 'insecure']);
    }

    public function testChannelArgumentOfTheWrongType(): void
    {
        $this->expectException(TypeError::class);
        new PolyRPC\Channel('127.0.0.1:1', ['credentials' => null, 'grpc.keepalive_time_ms' => [1]]);
    }

    public function testEmptyTarget(): void
    {
        $this->expectException(InvalidArgumentException::class);
        new PolyRPC\Channel('', ['credentials' => null, 'force_new' => true]);
    }

    public function testUnparsablePem(): void
    {
        $this->expectException(InvalidArgumentException::class);
        ChannelCredentials::createSsl('not a certificate');
    }

    public function testKeyWithoutCertificate(): void
    {
        $this->expectException(InvalidArgumentException::class);
        ChannelCredentials::createSsl(null, polyrpc_cert('client.key'));
    }

    public function testServerCredentialsWithGarbage(): void
    {
        $this->expectException(InvalidArgumentException::class);
        PolyRPC\ServerCredentials::createSsl(null, 'no key', 'no cert');
    }

    public function testStatusCodeOutOfRange(): void
    {
        $this->expectException(InvalidArgumentException::class);
        new PolyRPC\Status(17, 'no such code');
    }

    public function testNativeNullHandleIsAnError(): void
    {
        try {
            polyrpc_call_cancel(null);
            $this->fail('no exception');
        } catch (PolyRPC\Native\Error $e) {
            $this->assertSame(POLYRPC_ERROR_INVALID_ARGUMENT, $e->getCode());
            $this->assertInstanceOf(RuntimeException::class, $e);
        }
    }

    public function testNativeWrongHandleTypeIsATypeError(): void
    {
        $this->expectException(TypeError::class);
        polyrpc_call_cancel(polyrpc_cq_create());
    }

    public function testPersistentChannelFunctionsCheckTheirArguments(): void
    {
        $this->expectException(TypeError::class);
        polyrpc_php_channel_acquire('k', '127.0.0.1:1', 'not credentials');
    }

    public function testOversizedRequestEndsTheCall(): void
    {
        $call = $this->client()->RecordRoute();
        $call->write(new Point(['latitude' => 1]));
        // A request over the server's 4 MiB receive limit.
        $big = new R\RouteNote(['message' => str_repeat('x', 5 * 1024 * 1024)]);
        $chat = $this->client()->RouteChat();
        $chat->write($big);
        $this->assertNull($chat->read());
        $this->assertSame(\PolyRPC\STATUS_RESOURCE_EXHAUSTED, $chat->getStatus()->code);
        [, $status] = $call->wait();
        $this->assertSame(0, $status->code, 'other calls go on');
    }

    public function testOversizedResponseForTheClientLimit(): void
    {
        $client = new R\RouteGuideClient('127.0.0.1:' . self::$server->ports[0], [
            'credentials' => null, 'grpc.max_receive_message_length' => 1024]);
        $status = $client->RouteChat();
        $status->write(new R\RouteNote(['message' => str_repeat('y', 4096)]));
        $this->assertNull($status->read());
        $this->assertSame(\PolyRPC\STATUS_RESOURCE_EXHAUSTED, $status->getStatus()->code);
    }

    public function testServerRejectsObjectsWithoutAService(): void
    {
        $this->expectException(InvalidArgumentException::class);
        (new PolyRPC\Server(['handle_signals' => false]))->handle(new stdClass());
    }

    public function testServerBadAddress(): void
    {
        $this->expectException(RuntimeException::class);
        (new PolyRPC\Server(['handle_signals' => false]))->addHttp2Port('not-an-address:xyz');
    }

    public function testServerOptionOfTheWrongType(): void
    {
        $this->expectException(TypeError::class);
        new PolyRPC\Server(['grpc.max_receive_message_length' => 1.5]);
    }

    public function testServerOperationsOutsideTheServerLoop(): void
    {
        $this->expectException(LogicException::class);
        $server = new PolyRPC\Server(['handle_signals' => false]);
        $server->sleep((new ReflectionClass(PolyRPC\ServerContext::class))->newInstanceWithoutConstructor(), 10);
    }
}
