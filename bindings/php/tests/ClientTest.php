<?php
// The client API (PolyRPC\Channel, BaseStub's generated clients, the four call kinds) against
// the PHP fixture server: results, metadata, statuses, deadlines, cancellation, credentials.

use Google\Protobuf\GPBEmpty;
use PHPUnit\Framework\TestCase;
use Polyrpc\Test\Common\Feature;
use Polyrpc\Test\Common\Point;
use Polyrpc\Test\Routes\V1 as R;
use PolyRPC\ChannelCredentials;
use PolyRPC\StatusException;

final class ClientTest extends TestCase
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

    private function target(int $which = 0): string
    {
        return '127.0.0.1:' . self::$server->ports[$which];
    }

    private function client(array $args = []): R\RouteGuideClient
    {
        return new R\RouteGuideClient($this->target(), $args + ['credentials' => ChannelCredentials::createInsecure()]);
    }

    private function admin(): R\AdminClient
    {
        return new R\AdminClient($this->target(), ['credentials' => ChannelCredentials::createInsecure()]);
    }

    public function testUnaryReturnsResponseAndStatus(): void
    {
        [$feature, $status] = $this->client()->GetFeature(new Point(['latitude' => 3, 'longitude' => 4]))->wait();
        $this->assertInstanceOf(Feature::class, $feature);
        $this->assertSame('f3,4', $feature->getName());
        $this->assertSame(4, $feature->getLocation()->getLongitude());
        $this->assertSame(\PolyRPC\STATUS_OK, $status->code);
        $this->assertSame(0, $status['code'], 'a status reads as grpc\'s array too');
        $this->assertTrue($status->isOk());
        $this->assertSame(['/polyrpc.test.routes.v1.RouteGuide/GetFeature'], $status->metadata['x-method']);
    }

    public function testMetadataBothWays(): void
    {
        $bin = "\x00\x01\xfe\xff";
        $call = $this->client()->GetFeature(new Point(), ['x-echo' => ['a', 'b'], 'X-Echo-Up' => 'single',
                                                          'x-echo-bin' => [$bin]]);
        $call->wait();
        $initial = $call->getMetadata();
        $this->assertSame(['a', 'b'], $initial['x-echo']);
        $this->assertSame(['single'], $initial['x-echo-up'], 'keys are lower-cased, a string is one value');
        $this->assertSame([$bin], $initial['x-echo-bin'], '-bin values cross as bytes');
        $trailing = $call->getTrailingMetadata();
        $this->assertSame(['a', 'b'], $trailing['x-echo-t']);
        $this->assertSame([$bin], $trailing['x-echo-bin']);
    }

    public function testServerStreaming(): void
    {
        $call = $this->client()->ListFeatures(new R\Rectangle(['lo' => new Point(['latitude' => 5])]),
                                              ['x-echo' => ['s']]);
        $names = [];
        foreach ($call->responses() as $f) {
            $names[] = $f->getName();
        }
        $this->assertSame(['feature 0', 'feature 1', 'feature 2', 'feature 3', 'feature 4'], $names);
        $status = $call->getStatus();
        $this->assertSame(\PolyRPC\STATUS_OK, $status->code);
        $this->assertSame(['s'], $call->getMetadata()['x-echo']);
        $this->assertSame(['s'], $call->getTrailingMetadata()['x-echo-t']);
    }

    public function testServerStreamingEndsWithError(): void
    {
        $call = $this->client()->ListFeatures(new R\Rectangle(['lo' => new Point(['latitude' => 2]),
                                                               'hi' => new Point(['longitude' => 1])]));
        $this->assertCount(2, iterator_to_array($call->responses(), false));
        $status = $call->getStatus();
        $this->assertSame(\PolyRPC\STATUS_ABORTED, $status->code);
        $this->assertSame('stopped after 2', $status->details);
    }

    public function testClientStreaming(): void
    {
        $call = $this->client()->RecordRoute();
        foreach ([1, 2, 3, 4] as $lat) {
            $this->assertTrue($call->write(new Point(['latitude' => $lat])));
        }
        [$summary, $status] = $call->wait();
        $this->assertSame(\PolyRPC\STATUS_OK, $status->code);
        $this->assertSame(4, $summary->getPointCount());
        $this->assertSame(10, $summary->getFeatureCount());
    }

    public function testClientStreamingWithoutMessages(): void
    {
        $summary = $this->client()->RecordRoute()->response();
        $this->assertSame(0, $summary->getPointCount());
    }

    public function testBidiStreaming(): void
    {
        $call = $this->client()->RouteChat(['x-echo' => ['chat']]);
        foreach (['one', 'two', 'three'] as $m) {
            $call->write(new R\RouteNote(['message' => $m]));
            $this->assertSame("echo: $m", $call->read()->getMessage());
        }
        $this->assertSame(['chat'], $call->getMetadata()['x-echo']);
        $call->writesDone();
        $this->assertNull($call->read());
        $this->assertSame(\PolyRPC\STATUS_OK, $call->getStatus()->code);
        $this->assertSame(['chat'], $call->getTrailingMetadata()['x-echo-t']);
    }

    public function testBidiServerEndsFirst(): void
    {
        $call = $this->client()->RouteChat();
        $call->write(new R\RouteNote(['message' => 'bye']));
        $this->assertNull($call->read());
        $this->assertSame(\PolyRPC\STATUS_OK, $call->getStatus()->code);
        $this->assertFalse($call->write(new R\RouteNote(['message' => 'late'])), 'a write after the end says so');
    }

    public function testTwoStreamsOfOneClientInterleave(): void
    {
        // The server handles each call in a Fiber: B is answered while A waits for its client.
        $client = $this->client();
        $a = $client->RouteChat();
        $b = $client->RouteChat();
        $b->write(new R\RouteNote(['message' => 'b1']));
        $this->assertSame('echo: b1', $b->read()->getMessage());
        $a->write(new R\RouteNote(['message' => 'a1']));
        $this->assertSame('echo: a1', $a->read()->getMessage());
        $b->writesDone();
        $a->writesDone();
        $this->assertSame(0, $a->getStatus()->code);
        $this->assertSame(0, $b->getStatus()->code);
    }

    public function testStatusWithDetailsAndTrailers(): void
    {
        [$response, $status] = $this->client()->GetFeature(new Point(['latitude' => -1]))->wait();
        $this->assertNull($response);
        $this->assertSame(\PolyRPC\STATUS_NOT_FOUND, $status->code);
        $this->assertSame('no feature there', $status->details);
        $this->assertSame(['empty'], $status->metadata['x-why']);
        $this->assertSame('NOT_FOUND: no feature there', (string)$status);
        try {
            $this->client()->GetFeature(new Point(['latitude' => -1]))->response();
            $this->fail('response() did not throw');
        } catch (StatusException $e) {
            $this->assertSame(\PolyRPC\STATUS_NOT_FOUND, $e->getCode());
            $this->assertSame('no feature there', $e->getMessage());
            $this->assertSame(['empty'], $e->getTrailers()['x-why']);
        }
    }

    public function testHandlerExceptionIsUnknown(): void
    {
        $status = $this->client()->GetFeature(new Point(['latitude' => -2]))->getStatus();
        $this->assertSame(\PolyRPC\STATUS_UNKNOWN, $status->code);
        $this->assertSame('Exception calling application: boom', $status->details);
    }

    public function testNullResponseWithoutStatusIsInternal(): void
    {
        $status = $this->client()->GetFeature(new Point(['latitude' => -3]))->getStatus();
        $this->assertSame(\PolyRPC\STATUS_INTERNAL, $status->code);
    }

    public function testUnimplementedMethodOfGeneratedStub(): void
    {
        $status = $this->client()->Describe(new Feature\Tag(['key' => 'k']))->getStatus();
        $this->assertSame(\PolyRPC\STATUS_UNIMPLEMENTED, $status->code);
    }

    public function testUnknownServiceIsUnimplemented(): void
    {
        $c = new Grpc\Testing\TestServiceClient($this->target(), ['credentials' => ChannelCredentials::createInsecure()]);
        $this->assertSame(\PolyRPC\STATUS_UNIMPLEMENTED, $c->EmptyCall(new Grpc\Testing\PBEmpty())->getStatus()->code);
    }

    public function testDeadlineExceededAndTheServerSeesTheCancellation(): void
    {
        $this->admin()->Reset(new GPBEmpty())->response();
        $t0 = microtime(true);
        $status = $this->client()->GetFeature(new Point(['latitude' => -4, 'longitude' => 5000]), [],
                                              ['timeout' => 200000])->getStatus();
        $elapsed = microtime(true) - $t0;
        $this->assertSame(\PolyRPC\STATUS_DEADLINE_EXCEEDED, $status->code);
        $this->assertGreaterThanOrEqual(0.19, $elapsed);
        $this->assertLessThan(2.0, $elapsed);
        $seen = 0;
        for ($i = 0; $i < 50 && $seen === 0; $i++) { // the server learns of it asynchronously
            usleep(20000);
            $seen += $this->admin()->Reset(new GPBEmpty())->response()->getPointCount();
        }
        $this->assertSame(1, $seen, 'the handler saw its call cancelled (deadline)');
    }

    public function testServerSeesTheDeadline(): void
    {
        $call = $this->client()->GetFeature(new Point(), [], ['timeout' => 5000000]);
        $call->wait();
        $this->assertSame(['set'], $call->getTrailingMetadata()['x-deadline']);
        $call = $this->client()->GetFeature(new Point());
        $call->wait();
        $this->assertSame(['none'], $call->getTrailingMetadata()['x-deadline']);
    }

    public function testCancelBeforeWait(): void
    {
        $call = $this->client()->GetFeature(new Point(['latitude' => -4, 'longitude' => 2000]));
        $call->cancel();
        $t0 = microtime(true);
        [$response, $status] = $call->wait();
        $this->assertNull($response);
        $this->assertSame(\PolyRPC\STATUS_CANCELLED, $status->code);
        $this->assertLessThan(1.0, microtime(true) - $t0);
    }

    public function testCancelMidStream(): void
    {
        $this->admin()->Reset(new GPBEmpty())->response();
        $call = $this->client()->ListFeatures(new R\Rectangle(['lo' => new Point(['latitude' => 50]),
                                                               'hi' => new Point(['latitude' => 20])]));
        $first = null;
        foreach ($call->responses() as $f) {
            $first = $f;
            $call->cancel();
        }
        $this->assertSame('feature 0', $first->getName());
        $this->assertSame(\PolyRPC\STATUS_CANCELLED, $call->getStatus()->code);
        $seen = 0;
        for ($i = 0; $i < 50 && $seen === 0; $i++) {
            usleep(20000);
            $seen += $this->admin()->Reset(new GPBEmpty())->response()->getPointCount();
        }
        $this->assertSame(1, $seen, 'the streaming handler saw the cancel');
    }

    public function testCallCredentialsFromACallable(): void
    {
        $contexts = [];
        $call = $this->client()->GetFeature(new Point(), [], ['call_credentials_callback' => function ($ctx) use (&$contexts) {
            $contexts[] = $ctx;
            return ['authorization' => ['Bearer t0k3n']];
        }]);
        $call->wait();
        $this->assertSame(['Bearer t0k3n'], $call->getTrailingMetadata()['x-seen-authorization']);
        $this->assertCount(1, $contexts);
        $this->assertSame('GetFeature', $contexts[0]->method_name);
        $this->assertSame('https://' . $this->target() . '/polyrpc.test.routes.v1.RouteGuide', $contexts[0]->service_url);
    }

    public function testChannelCallCredentialsAndUpdateMetadata(): void
    {
        $creds = ChannelCredentials::createComposite(ChannelCredentials::createInsecure(),
                                                     PolyRPC\CallCredentials::createFromPlugin(fn() => ['x-cred' => ['c1']]));
        $client = new R\RouteGuideClient($this->target(), [
            'credentials' => $creds,
            'update_metadata' => fn(array $md, string $aud) => $md + ['x-echo-aud' => [$aud]],
        ]);
        $call = $client->GetFeature(new Point());
        $call->wait();
        $this->assertSame(['c1'], $call->getTrailingMetadata()['x-seen-x-cred']);
        $this->assertSame(['https://' . $this->target() . '/polyrpc.test.routes.v1.RouteGuide'],
                          $call->getMetadata()['x-echo-aud']);
        $bearer = $this->client()->GetFeature(new Point());
        $bearer->setCallCredentials(PolyRPC\CallCredentials::createBearer('abc'));
        // setCallCredentials() after start() is too late: the call has its metadata already.
        $this->assertArrayNotHasKey('x-seen-authorization', $bearer->getTrailingMetadata());
    }

    public function testCallCredentialsThatThrowGiveUnavailable(): void
    {
        $status = $this->client()->GetFeature(new Point(), [], ['call_credentials_callback' => function () {
            throw new RuntimeException('no token today');
        }])->getStatus();
        $this->assertSame(\PolyRPC\STATUS_UNAVAILABLE, $status->code);
        $this->assertStringContainsString('no token today', $status->details);
    }

    public function testCompressedRequests(): void
    {
        $big = str_repeat('compressible ', 10000);
        $call = $this->client()->RecordRoute([], ['compression' => 'gzip']);
        $call->write(new Point(['latitude' => 7]));
        $call->write(new Point(['latitude' => 8]), ['flags' => \PolyRPC\WRITE_NO_COMPRESS]);
        [$summary, $status] = $call->wait();
        $this->assertSame(0, $status->code);
        $this->assertSame(15, $summary->getFeatureCount());
        $this->assertNotEmpty($big);
    }

    public function testPersistentChannelsAreSharedAndReleased(): void
    {
        $target = $this->target();
        $args = ['credentials' => ChannelCredentials::createInsecure(), 'grpc.keepalive_time_ms' => 123456];
        $find = function () use ($target) {
            foreach (polyrpc_php_persistent_channels() as $row) {
                if (str_starts_with($row['key'], $target . "\0") && str_contains($row['key'], '123456')) {
                    return $row;
                }
            }
            return null;
        };
        $a = new PolyRPC\Channel($target, $args);
        $b = new PolyRPC\Channel($target, $args);
        $this->assertTrue($a->isPersistent());
        $this->assertSame(2, $find()['holders']);
        $this->assertSame(getmypid(), $find()['pid']);
        $c = new R\RouteGuideClient($target, [], $a);
        $this->assertSame('f1,1', $c->GetFeature(new Point(['latitude' => 1, 'longitude' => 1]))->response()->getName());
        $this->assertSame(\PolyRPC\CHANNEL_READY, $b->getConnectivityState(), 'b is a\'s channel: connected by a\'s call');
        unset($c, $b);
        $this->assertSame(1, $find()['holders']);
        unset($a);
        $this->assertSame(0, $find()['holders'], 'the table keeps the channel for the next request');
        $fresh = new PolyRPC\Channel($target, $args + ['force_new' => true]);
        $this->assertFalse($fresh->isPersistent());
        $this->assertSame(0, $find()['holders'], 'force_new channels are not in the table');
        $again = new PolyRPC\Channel($target, $args);
        $this->assertSame(\PolyRPC\CHANNEL_READY, $again->getConnectivityState(), 'still connected from before');
        $again->close();
        $this->assertNull($find(), 'close() takes it out of the table');
        $status = (new R\RouteGuideClient($target, [], $again))->GetFeature(new Point())->getStatus();
        $this->assertSame(\PolyRPC\STATUS_UNAVAILABLE, $status->code, 'a call on a closed channel');
    }

    public function testForkedChildMakesItsOwnChannel(): void
    {
        if (!function_exists('pcntl_fork')) {
            $this->fail('pcntl is needed (php-cli has it built in)');
        }
        $client = $this->client();
        $this->assertSame('f1,0', $client->GetFeature(new Point(['latitude' => 1]))->response()->getName());
        $pid = pcntl_fork();
        if ($pid === 0) {
            $ok = false;
            try {
                $ok = $client->GetFeature(new Point(['latitude' => 2]))->response()->getName() === 'f2,0';
            } catch (Throwable $e) {
            }
            posix_kill(getmypid(), $ok ? SIGUSR1 : SIGUSR2); // exit codes are lost to PHPUnit's shutdown
            exit($ok ? 0 : 1);
        }
        $this->assertGreaterThan(0, $pid);
        $deadline = microtime(true) + 20;
        $status = 0;
        while (pcntl_waitpid($pid, $status, WNOHANG) === 0 && microtime(true) < $deadline) {
            usleep(20000);
        }
        $this->assertTrue(pcntl_wifsignaled($status) || pcntl_wifexited($status), 'the child ended');
        $this->assertSame(SIGUSR1, pcntl_wtermsig($status), 'the child\'s call on the inherited channel worked');
        $this->assertSame('f3,0', $client->GetFeature(new Point(['latitude' => 3]))->response()->getName(),
                          'the parent\'s channel still works');
    }

    public function testConnectivity(): void
    {
        $ch = new PolyRPC\Channel($this->target(), ['credentials' => null, 'force_new' => true]);
        $this->assertSame(\PolyRPC\CHANNEL_IDLE, $ch->getConnectivityState());
        $this->assertTrue($ch->waitForReady(5000000));
        $dead = new PolyRPC\Channel('127.0.0.1:' . polyrpc_free_port(), ['credentials' => null, 'force_new' => true]);
        $t0 = microtime(true);
        $this->assertFalse($dead->waitForReady(300000));
        $this->assertLessThan(3.0, microtime(true) - $t0);
        $status = (new R\RouteGuideClient('x', [], $dead))->GetFeature(new Point(), [], ['timeout' => 2000000])->getStatus();
        $this->assertSame(\PolyRPC\STATUS_UNAVAILABLE, $status->code);
    }

    public function testTls(): void
    {
        $args = ['credentials' => ChannelCredentials::createSsl(polyrpc_cert('ca.pem')),
                 'grpc.ssl_target_name_override' => 'foo.test.google.fr', 'force_new' => true];
        $c = new R\RouteGuideClient($this->target(1), $args);
        $this->assertSame('f9,9', $c->GetFeature(new Point(['latitude' => 9, 'longitude' => 9]))->response()->getName());
        // No CA that trusts the server: the handshake fails.
        $bad = new R\RouteGuideClient($this->target(1), ['credentials' => ChannelCredentials::createSsl(),
                                                         'grpc.ssl_target_name_override' => 'foo.test.google.fr']);
        $this->assertSame(\PolyRPC\STATUS_UNAVAILABLE, $bad->GetFeature(new Point(), [], ['timeout' => 5000000])->getStatus()->code);
        // Plaintext to a TLS port fails too.
        $plain = new R\RouteGuideClient($this->target(1), ['credentials' => ChannelCredentials::createInsecure()]);
        $this->assertSame(\PolyRPC\STATUS_UNAVAILABLE, $plain->GetFeature(new Point(), [], ['timeout' => 5000000])->getStatus()->code);
    }

    public function testMutualTls(): void
    {
        $with = ChannelCredentials::createSsl(polyrpc_cert('ca.pem'), polyrpc_cert('client.key'), polyrpc_cert('client.pem'));
        $c = new R\RouteGuideClient($this->target(2), ['credentials' => $with, 'grpc.ssl_target_name_override' => 'foo.test.google.fr']);
        $this->assertSame('f5,0', $c->GetFeature(new Point(['latitude' => 5]))->response()->getName());
        $without = ChannelCredentials::createSsl(polyrpc_cert('ca.pem'));
        $c = new R\RouteGuideClient($this->target(2), ['credentials' => $without, 'grpc.ssl_target_name_override' => 'foo.test.google.fr']);
        $this->assertNotSame(\PolyRPC\STATUS_OK, $c->GetFeature(new Point(), [], ['timeout' => 5000000])->getStatus()->code,
                             'a server that requires a client certificate refuses a client without one');
    }
}
