<?php
// grpc.testing.TestService interop server on the polyrpc PHP binding: a class implementing the
// generated Grpc\Testing\TestServiceInterface, served by PolyRPC\Server from php-cli.
//
//   bindings/php/php.sh conformance/php/interop_server.php --port=N [--use_tls=true] [--cert_dir=DIR]
//       [--bind=ADDRESS] [--server_id=ID]
//
// Listens on 127.0.0.1 unless --bind names another address ("::" or "0.0.0.0": every interface).
// Answers fill_server_id with server_id and the machine's hostname, as grpc-go's interop server
// does (its pick_first_unary case needs them).
//
// Behaviour follows gRPC's interop-test-descriptions.md (with the expect_compressed checks:
// the server knows whether each request arrived compressed) plus polyrpc's hooks:
// x-polyrpc-echo-deadline (trailer x-polyrpc-time-remaining-ms) and x-polyrpc-close-connection
// (drop the TCP connection after the first streamed response). SIGTERM stops it gracefully.

require __DIR__ . '/interop_common.php';

use Grpc\Testing as T;
use PolyRPC\ServerCallReader;
use PolyRPC\ServerCallWriter;
use PolyRPC\ServerContext;
use PolyRPC\Status;
use PolyRPC\StatusException;

final class InteropService implements T\TestServiceInterface
{
    public function __construct(private string $serverId)
    {
    }

    /** Echoes request metadata as the interop doc asks; true if the close-connection hook was asked for. */
    private function startCall(ServerContext $ctx): bool
    {
        $md = $ctx->clientMetadata();
        $trailing = [];
        if (isset($md['x-grpc-test-echo-initial'])) {
            $ctx->setInitialMetadata(['x-grpc-test-echo-initial' => $md['x-grpc-test-echo-initial']]);
        }
        if (isset($md['x-grpc-test-echo-trailing-bin'])) {
            $trailing['x-grpc-test-echo-trailing-bin'] = $md['x-grpc-test-echo-trailing-bin'];
        }
        if (($md['x-polyrpc-echo-deadline'][0] ?? '') === '1') {
            $left = $ctx->timeRemaining();
            $trailing['x-polyrpc-time-remaining-ms'] = [(string)($left === null ? -1 : intdiv($left, 1000))];
        }
        if ($trailing) {
            $ctx->setTrailingMetadata($trailing);
        }
        return ($md['x-polyrpc-close-connection'][0] ?? '') === '1';
    }

    private static function payload(int $size): T\Payload
    {
        return new T\Payload(['type' => T\PayloadType::COMPRESSABLE, 'body' => str_repeat("\0", $size)]);
    }

    private static function maybeFail($request): void
    {
        $st = $request->getResponseStatus();
        if ($st !== null && $st->getCode() !== 0) {
            throw new StatusException($st->getCode(), $st->getMessage());
        }
    }

    private static function checkCompressed($request, bool $compressed): void
    {
        $expect = $request->getExpectCompressed();
        if ($expect !== null && $expect->getValue() && !$compressed) {
            throw new StatusException(\PolyRPC\STATUS_INVALID_ARGUMENT, 'expected a compressed request');
        }
    }

    public function EmptyCall(T\PBEmpty $request, ServerContext $context): ?T\PBEmpty
    {
        $this->startCall($context);
        return new T\PBEmpty();
    }

    public function UnaryCall(T\SimpleRequest $request, ServerContext $context): ?T\SimpleResponse
    {
        self::checkCompressed($request, $context->lastRequestCompressed());
        if ($request->getResponseCompressed() !== null) {
            $context->setCompression($request->getResponseCompressed()->getValue() ? 'gzip' : 'identity');
        }
        $this->startCall($context);
        self::maybeFail($request);
        $response = new T\SimpleResponse(['payload' => self::payload($request->getResponseSize())]);
        if ($request->getFillServerId()) {
            $response->setServerId($this->serverId);
            $response->setHostname((string)gethostname());
        }
        return $response;
    }

    public function CacheableUnaryCall(T\SimpleRequest $request, ServerContext $context): ?T\SimpleResponse
    {
        return $this->UnaryCall($request, $context);
    }

    public function StreamingOutputCall(T\StreamingOutputCallRequest $request, ServerCallWriter $writer,
                                        ServerContext $context): void
    {
        $params = iterator_to_array($request->getResponseParameters());
        $anyCompressed = false;
        foreach ($params as $p) {
            $anyCompressed = $anyCompressed || ($p->getCompressed() !== null && $p->getCompressed()->getValue());
        }
        if ($anyCompressed) {
            $context->setCompression('gzip');
        }
        $close = $this->startCall($context);
        foreach ($params as $i => $p) {
            if ($p->getIntervalUs() > 0 && !$context->sleep($p->getIntervalUs())) {
                return;
            }
            $plain = $anyCompressed && !($p->getCompressed() !== null && $p->getCompressed()->getValue());
            $writer->write(new T\StreamingOutputCallResponse(['payload' => self::payload($p->getSize())]),
                           $plain ? ['flags' => \PolyRPC\WRITE_NO_COMPRESS] : []);
            if ($close && $i === 0) {
                $context->closeConnectionForTesting();
                return;
            }
        }
        self::maybeFail($request);
    }

    public function StreamingInputCall(ServerCallReader $reader, ServerContext $context): ?T\StreamingInputCallResponse
    {
        $this->startCall($context);
        $total = 0;
        foreach ($reader as $request) {
            self::checkCompressed($request, $reader->lastCompressed());
            $total += strlen($request->getPayload() ? $request->getPayload()->getBody() : '');
        }
        return new T\StreamingInputCallResponse(['aggregated_payload_size' => $total]);
    }

    public function FullDuplexCall(ServerCallReader $reader, ServerCallWriter $writer, ServerContext $context): void
    {
        $this->startCall($context);
        foreach ($reader as $request) {
            self::maybeFail($request);
            foreach ($request->getResponseParameters() as $p) {
                if ($p->getIntervalUs() > 0 && !$context->sleep($p->getIntervalUs())) {
                    return;
                }
                $writer->write(new T\StreamingOutputCallResponse(['payload' => self::payload($p->getSize())]));
            }
        }
    }

    public function HalfDuplexCall(ServerCallReader $reader, ServerCallWriter $writer, ServerContext $context): void
    {
        $this->startCall($context);
        $requests = iterator_to_array($reader, false);
        foreach ($requests as $request) {
            self::maybeFail($request);
        }
        foreach ($requests as $request) {
            foreach ($request->getResponseParameters() as $p) {
                if ($p->getIntervalUs() > 0 && !$context->sleep($p->getIntervalUs())) {
                    return;
                }
                $writer->write(new T\StreamingOutputCallResponse(['payload' => self::payload($p->getSize())]));
            }
        }
    }

    public function UnimplementedCall(T\PBEmpty $request, ServerContext $context): ?T\PBEmpty
    {
        $context->setStatus(Status::unimplemented());
        return null;
    }
}

$flags = interop_flags($argv, ['port' => 0, 'use_tls' => false, 'cert_dir' => interop_default_cert_dir(),
                              'bind' => '127.0.0.1', 'server_id' => 'polyrpc-php']);
if ($flags['port'] <= 0) {
    fwrite(STDERR, "--port=N is required\n");
    exit(2);
}
$server = new PolyRPC\Server(['log_errors' => false]);
$address = (str_contains($flags['bind'], ':') ? "[{$flags['bind']}]" : $flags['bind']) . ':' . $flags['port'];
try {
    if ($flags['use_tls']) {
        $creds = PolyRPC\ServerCredentials::createSsl(null, interop_read_cert($flags['cert_dir'], 'server.key'),
                                                      interop_read_cert($flags['cert_dir'], 'server.pem'));
        $port = $server->addSecureHttp2Port($address, $creds);
    } else {
        $port = $server->addHttp2Port($address);
    }
} catch (RuntimeException $e) {
    fwrite(STDERR, $e->getMessage() . "\n");
    exit(1);
}
if ($port !== $flags['port']) {
    fwrite(STDERR, "could not bind port {$flags['port']}\n");
    exit(1);
}
$server->handle(new InteropService($flags['server_id']));
$server->start();
fwrite(STDERR, "polyrpc-php interop server listening on $address (tls=" . ($flags['use_tls'] ? 'true' : 'false') . ")\n");
$server->run();
exit(0);
