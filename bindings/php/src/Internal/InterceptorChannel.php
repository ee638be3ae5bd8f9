<?php

namespace PolyRPC\Internal;

use PolyRPC\Channel;
use PolyRPC\Interceptor;

/**
 * A channel with one interceptor in front of the next one (grpc's
 * Grpc\Internal\InterceptorChannel); made by Interceptor::intercept(). The channel operations
 * go to the real channel at the end of the chain.
 */
final class InterceptorChannel
{
    /** @param Channel|InterceptorChannel $next */
    public function __construct(private $next, private Interceptor $interceptor)
    {
    }

    /** @return Channel|InterceptorChannel */
    public function getNext()
    {
        return $this->next;
    }

    public function getInterceptor(): Interceptor
    {
        return $this->interceptor;
    }

    /** The real channel at the end of the chain. */
    public function channel(): Channel
    {
        return $this->next instanceof Channel ? $this->next : $this->next->channel();
    }

    public function getTarget(): string
    {
        return $this->channel()->getTarget();
    }

    public function getConnectivityState(bool $try_to_connect = false): int
    {
        return $this->channel()->getConnectivityState($try_to_connect);
    }

    public function watchConnectivityState(int $last_state, int $timeout): bool
    {
        return $this->channel()->watchConnectivityState($last_state, $timeout);
    }

    public function waitForReady(int $timeout): bool
    {
        return $this->channel()->waitForReady($timeout);
    }

    public function close(): void
    {
        $this->channel()->close();
    }
}
