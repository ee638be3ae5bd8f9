<?php
// PolyRPC\Server on php-cli: graceful stops by signal and from a handler, and wire
// compatibility with real gRPC (grpc++ 1.51 from Debian) in both directions.

use Google\Protobuf\GPBEmpty;
use PHPUnit\Framework\TestCase;
use Polyrpc\Test\Common\Point;
use Polyrpc\Test\Routes\V1 as R;
use PolyRPC\ChannelCredentials;

final class ServerTest extends TestCase
{
    private function client(TestProcess $s): R\RouteGuideClient
    {
        return new R\RouteGuideClient('127.0.0.1:' . $s->ports[0], ['credentials' => ChannelCredentials::createInsecure(),
                                                                    'force_new' => true]);
    }

    /** @dataProvider signals */
    public function testSignalStopsGracefully(int $signal): void
    {
        $s = polyrpc_route_server();
        try {
            $c = $this->client($s);
            $this->assertSame(0, $c->Ping(new GPBEmpty())->getStatus()->code);
            // A stream under way (5 responses, 100 ms apart) when the signal comes.
            $call = $c->ListFeatures(new R\Rectangle(['lo' => new Point(['latitude' => 5]),
                                                      'hi' => new Point(['latitude' => 100])]));
            $gen = $call->responses();
            $this->assertSame('feature 0', $gen->current()->getName());
            posix_kill($s->pid(), $signal);
            usleep(50000); // the signal is seen once the server's wait returns
            $late = new R\RouteGuideClient('127.0.0.1:' . $s->ports[0], ['credentials' => null, 'force_new' => true]);
            $t0 = microtime(true);
            $lateStatus = $late->Ping(new GPBEmpty(), [], ['timeout' => 3000000])->getStatus();
            $this->assertSame(\PolyRPC\STATUS_UNAVAILABLE, $lateStatus->code, 'a call after the signal: ' . $lateStatus);
            $this->assertSame('the server is shutting down', $lateStatus->details);
            $this->assertLessThan(1.0, microtime(true) - $t0, 'answered at once');
            $rest = [];
            for ($gen->next(); $gen->valid(); $gen->next()) {
                $rest[] = $gen->current()->getName();
            }
            $this->assertSame(['feature 1', 'feature 2', 'feature 3', 'feature 4'], $rest,
                              'the call under way finishes in the grace period');
            $this->assertSame(0, $call->getStatus()->code);
            $t0 = microtime(true);
            $code = $s->wait(10);
            $this->assertSame(0, $code, 'exited by itself with status 0: ' . $s->stderr());
            $this->assertLessThan(5, microtime(true) - $t0);
            $this->assertStringContainsString('stopped after', $s->stderr());
            $this->assertSame(\PolyRPC\STATUS_UNAVAILABLE,
                              $c->Ping(new GPBEmpty(), [], ['timeout' => 2000000])->getStatus()->code);
        } finally {
            $s->stop(9);
        }
    }

    public static function signals(): array
    {
        return ['SIGTERM' => [SIGTERM], 'SIGINT' => [SIGINT]];
    }

    public function testGraceEndsWithCancellation(): void
    {
        $s = polyrpc_route_server();
        try {
            $c = $this->client($s);
            // A handler sleeping 10 s; the server is told to stop with 300 ms of grace.
            $slow = $c->GetFeature(new Point(['latitude' => -4, 'longitude' => 10000]), [], ['timeout' => 20000000]);
            $this->assertSame(0, $c->GetFeature(new Point(['latitude' => -5, 'longitude' => 300]))->getStatus()->code);
            $t0 = microtime(true);
            $status = $slow->getStatus();
            $this->assertNotSame(0, $status->code, 'the slow call was cut at the end of the grace');
            $this->assertLessThan(5, microtime(true) - $t0);
            $this->assertSame(0, $s->wait(10), $s->stderr());
        } finally {
            $s->stop(9);
        }
    }

    public function testGrpcCppClientAgainstThePhpServer(): void
    {
        $port = polyrpc_free_port();
        $s = new TestProcess(array_merge(polyrpc_test_php(), [POLYRPC_ROOT . '/conformance/php/interop_server.php',
                                                              "--port=$port"]), false, $port);
        try {
            foreach (['large_unary', 'client_streaming', 'server_streaming', 'ping_pong', 'custom_metadata',
                      'status_code_and_message', 'timeout_on_sleeping_server', 'cancel_after_first_response'] as $case) {
                exec(sprintf('timeout 30 %s --server_host=127.0.0.1 --server_port=%d --test_case=%s --use_tls=false 2>&1',
                             escapeshellarg(POLYRPC_BUILD . '/conformance/grpcxx/grpcxx_interop_client'), $port, $case),
                     $out, $rc);
                $this->assertSame(0, $rc, "grpc++ client, $case: " . implode("\n", array_slice($out, -5)));
            }
        } finally {
            $this->assertSame(0, $s->stop());
        }
    }

    public function testPhpClientAgainstGrpcCppServer(): void
    {
        $port = polyrpc_free_port();
        $s = new TestProcess([POLYRPC_BUILD . '/conformance/grpcxx/grpcxx_interop_server', "--port=$port"], false, $port);
        try {
            $c = new Grpc\Testing\TestServiceClient("127.0.0.1:$port", ['credentials' => null]);
            $req = new Grpc\Testing\SimpleRequest(['response_size' => 1000,
                                                   'payload' => new Grpc\Testing\Payload(['body' => str_repeat("\0", 500)])]);
            $call = $c->UnaryCall($req, ['x-grpc-test-echo-initial' => ['hello'],
                                         'x-grpc-test-echo-trailing-bin' => ["\x00\xff"]]);
            $this->assertSame(1000, strlen($call->response()->getPayload()->getBody()));
            $this->assertSame(['hello'], $call->getMetadata()['x-grpc-test-echo-initial']);
            $this->assertSame(["\x00\xff"], $call->getTrailingMetadata()['x-grpc-test-echo-trailing-bin']);
            $bidi = $c->FullDuplexCall();
            foreach ([10, 20, 30] as $n) {
                $bidi->write(new Grpc\Testing\StreamingOutputCallRequest(['response_parameters' => [
                    new Grpc\Testing\ResponseParameters(['size' => $n])]]));
                $this->assertSame($n, strlen($bidi->read()->getPayload()->getBody()));
            }
            $bidi->writesDone();
            $this->assertNull($bidi->read());
            $this->assertSame(0, $bidi->getStatus()->code);
            $st = $c->UnaryCall(new Grpc\Testing\SimpleRequest(['response_status' =>
                new Grpc\Testing\EchoStatus(['code' => 9, 'message' => 'from grpc++'])]))->getStatus();
            $this->assertSame(9, $st->code);
            $this->assertSame('from grpc++', $st->details);
        } finally {
            $s->stop();
        }
    }

    /** ruby-grpc (the grpc gem on gRPC's C core) as the client of the PHP server. */
    public function testRubyGrpcClientAgainstThePhpServer(): void
    {
        $this->assertFileExists('/usr/bin/grpc_tools_ruby_protoc', 'apt install ruby-grpc-tools (scripts/bootstrap.sh)');
        $dir = sys_get_temp_dir() . '/polyrpc-ruby-peer-' . getmypid();
        @mkdir("$dir/protos/cgtest/routes", 0777, true);
        @mkdir("$dir/protos/cgtest/common", 0777, true);
        @mkdir("$dir/gen");
        $src = POLYRPC_ROOT . '/codegen/tests/protos';
        copy("$src/cgtest/common/types.proto", "$dir/protos/cgtest/common/types.proto");
        // gRPC's Ruby plugin, like its PHP one, aborts on a '$' in a comment.
        file_put_contents("$dir/protos/cgtest/routes/route_guide.proto",
                          str_replace('$dollar signs$', 'dollar signs', file_get_contents("$src/cgtest/routes/route_guide.proto")));
        exec(sprintf('cd %s && grpc_tools_ruby_protoc -I protos --ruby_out=gen --grpc_out=gen '
                     . 'cgtest/common/types.proto cgtest/routes/route_guide.proto 2>&1', escapeshellarg($dir)), $out, $rc);
        $this->assertSame(0, $rc, implode("\n", $out));
        $s = polyrpc_route_server();
        try {
            $out = [];
            exec(sprintf('timeout 60 ruby %s %s 127.0.0.1:%d 2>&1', escapeshellarg(__DIR__ . '/fixtures/ruby_grpc_client.rb'),
                         escapeshellarg("$dir/gen"), $s->ports[0]), $out, $rc);
            $this->assertSame(0, $rc, implode("\n", $out));
            $r = json_decode(end($out), true);
            $this->assertSame('f4,2', $r['unary']);
            $this->assertSame('ruby', $r['unary_trailer']);
            $this->assertSame(['feature 0', 'feature 1', 'feature 2'], $r['stream']);
            $this->assertSame(6, $r['client_stream']);
            $this->assertSame(['echo: a', 'echo: b'], $r['bidi']);
            $this->assertSame([\PolyRPC\STATUS_NOT_FOUND, 'no feature there', 'empty'], $r['error']);
            $this->assertSame(\PolyRPC\STATUS_UNIMPLEMENTED, $r['unimplemented']);
            $this->assertSame(\PolyRPC\STATUS_DEADLINE_EXCEEDED, $r['deadline']);
        } finally {
            $this->assertSame(0, $s->stop());
            exec('rm -rf ' . escapeshellarg($dir));
        }
    }
}
