<?php

namespace PolyRPC;

/**
 * Base class of generated client classes, as the grpc library's Grpc\BaseStub:
 *
 *     $client = new Helloworld\GreeterClient('127.0.0.1:50051',
 *         ['credentials' => PolyRPC\ChannelCredentials::createInsecure()]);
 *     [$reply, $status] = $client->SayHello($request, ['x-key' => ['v']], ['timeout' => 500000])->wait();
 *
 * $opts: the Channel's arguments ('credentials' required) plus 'update_metadata', a
 * callable($metadata, $jwt_aud_uri) returning the metadata every call sends. Give a Channel as
 * the third argument to share one between clients, or one with interceptors
 * (Interceptor::intercept($channel, $interceptors)).
 */
class BaseStub
{
    /** @var Channel|Internal\InterceptorChannel */
    private $channel;
    /** @var callable|null */
    private $update_metadata = null;
    private string $hostname;
    private ?string $hostname_override = null;

    /** @param array<string, mixed> $opts */
    public function __construct(string $hostname, array $opts, Channel|Internal\InterceptorChannel|null $channel = null)
    {
        $this->hostname = $hostname;
        if (isset($opts['update_metadata'])) {
            if (!is_callable($opts['update_metadata'])) {
                throw new \TypeError("'update_metadata' must be callable");
            }
            $this->update_metadata = $opts['update_metadata'];
            unset($opts['update_metadata']);
        }
        if (!empty($opts['grpc.ssl_target_name_override']) && is_string($opts['grpc.ssl_target_name_override'])) {
            $this->hostname_override = $opts['grpc.ssl_target_name_override'];
        }
        $this->channel = $channel ?? new Channel($hostname, $opts);
    }

    /** The real channel (behind any interceptors). */
    public function getChannel(): Channel
    {
        return $this->channel instanceof Channel ? $this->channel : $this->channel->channel();
    }

    public function getTarget(): string
    {
        return $this->channel->getTarget();
    }

    public function getConnectivityState(bool $try_to_connect = false): int
    {
        return $this->channel->getConnectivityState($try_to_connect);
    }

    /** Waits up to $timeout microseconds for the channel to be READY. */
    public function waitForReady(int $timeout): bool
    {
        return $this->channel->waitForReady($timeout);
    }

    public function close(): void
    {
        $this->channel->close();
    }

    private function jwtAudUri(string $method): string
    {
        $slash = strrpos($method, '/');
        if ($slash === false) {
            throw new \InvalidArgumentException('a method path has a slash: /package.Service/Method');
        }
        $host = $this->hostname_override ?? $this->hostname;
        if (str_ends_with($host, ':443')) {
            $host = substr($host, 0, -4);
        }
        return 'https://' . $host . substr($method, 0, $slash);
    }

    /**
     * @param array<string, list<string>|string> $metadata
     * @return array<string, list<string>|string>
     */
    private function metadata(string $method, array $metadata): array
    {
        if ($this->update_metadata !== null) {
            $metadata = ($this->update_metadata)($metadata, $this->jwtAudUri($method));
            if (!is_array($metadata)) {
                throw new \TypeError("'update_metadata' must return a metadata array, not " . get_debug_type($metadata));
            }
        }
        return $metadata;
    }

    /**
     * A unary call (the generated methods call this).
     *
     * @param array{0: class-string, 1: string}|callable $deserialize
     */
    protected function _simpleRequest(string $method, $argument, $deserialize, array $metadata = [],
                                      array $options = [])
    {
        if ($this->channel instanceof Channel) { // no interceptor: no closure either
            $call = new UnaryCall($this->channel, $method, $deserialize, $options);
            $call->start($argument, $this->metadata($method, $metadata), $options);
            return $call;
        }
        return $this->unaryUnary($this->channel)($method, $argument, $deserialize, $metadata, $options);
    }

    /** A server-streaming call. */
    protected function _serverStreamRequest(string $method, $argument, $deserialize, array $metadata = [],
                                            array $options = [])
    {
        return $this->unaryStream($this->channel)($method, $argument, $deserialize, $metadata, $options);
    }

    /** A client-streaming call. */
    protected function _clientStreamRequest(string $method, $deserialize, array $metadata = [],
                                            array $options = [])
    {
        return $this->streamUnary($this->channel)($method, $deserialize, $metadata, $options);
    }

    /** A bidirectional-streaming call. */
    protected function _bidiRequest(string $method, $deserialize, array $metadata = [],
                                    array $options = [])
    {
        return $this->streamStream($this->channel)($method, $deserialize, $metadata, $options);
    }

    // Each kind: a function that starts the call on $channel, through its interceptors first.

    private function unaryUnary($channel): \Closure
    {
        if ($channel instanceof Internal\InterceptorChannel) {
            return fn($method, $argument, $deserialize, array $metadata = [], array $options = []) =>
                $channel->getInterceptor()->interceptUnaryUnary($method, $argument, $deserialize,
                    $this->unaryUnary($channel->getNext()), $metadata, $options);
        }
        return function ($method, $argument, $deserialize, array $metadata = [], array $options = []) use ($channel) {
            $call = new UnaryCall($channel, $method, $deserialize, $options);
            $call->start($argument, $this->metadata($method, $metadata), $options);
            return $call;
        };
    }

    private function unaryStream($channel): \Closure
    {
        if ($channel instanceof Internal\InterceptorChannel) {
            return fn($method, $argument, $deserialize, array $metadata = [], array $options = []) =>
                $channel->getInterceptor()->interceptUnaryStream($method, $argument, $deserialize,
                    $this->unaryStream($channel->getNext()), $metadata, $options);
        }
        return function ($method, $argument, $deserialize, array $metadata = [], array $options = []) use ($channel) {
            $call = new ServerStreamingCall($channel, $method, $deserialize, $options);
            $call->start($argument, $this->metadata($method, $metadata), $options);
            return $call;
        };
    }

    private function streamUnary($channel): \Closure
    {
        if ($channel instanceof Internal\InterceptorChannel) {
            return fn($method, $deserialize, array $metadata = [], array $options = []) =>
                $channel->getInterceptor()->interceptStreamUnary($method, $deserialize,
                    $this->streamUnary($channel->getNext()), $metadata, $options);
        }
        return function ($method, $deserialize, array $metadata = [], array $options = []) use ($channel) {
            $call = new ClientStreamingCall($channel, $method, $deserialize, $options);
            $call->start($this->metadata($method, $metadata));
            return $call;
        };
    }

    private function streamStream($channel): \Closure
    {
        if ($channel instanceof Internal\InterceptorChannel) {
            return fn($method, $deserialize, array $metadata = [], array $options = []) =>
                $channel->getInterceptor()->interceptStreamStream($method, $deserialize,
                    $this->streamStream($channel->getNext()), $metadata, $options);
        }
        return function ($method, $deserialize, array $metadata = [], array $options = []) use ($channel) {
            $call = new BidiStreamingCall($channel, $method, $deserialize, $options);
            $call->start($this->metadata($method, $metadata));
            return $call;
        };
    }
}
