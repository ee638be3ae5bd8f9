<?php

namespace PolyRPC;

use PolyRPC\Internal\InterceptorChannel;

/**
 * A client interceptor, as the grpc library's Grpc\Interceptor: override the methods for the
 * kinds of call to intercept; each receives the call's method path, its request (for unary and
 * server-streaming calls), the deserializer, a $continuation to call to go on (with the same or
 * changed arguments), the metadata and the options, and returns the call: $continuation's
 * result, or an object of a subclass of that call's class (the generated methods declare it). Attach them with
 * Interceptor::intercept($channel, [$a, $b]) ($a sees each call first) and give the result to
 * a generated client as its channel.
 */
class Interceptor
{
    public function interceptUnaryUnary($method, $argument, $deserialize, $continuation, array $metadata = [],
                                        array $options = [])
    {
        return $continuation($method, $argument, $deserialize, $metadata, $options);
    }

    public function interceptStreamUnary($method, $deserialize, $continuation, array $metadata = [], array $options = [])
    {
        return $continuation($method, $deserialize, $metadata, $options);
    }

    public function interceptUnaryStream($method, $argument, $deserialize, $continuation, array $metadata = [],
                                         array $options = [])
    {
        return $continuation($method, $argument, $deserialize, $metadata, $options);
    }

    public function interceptStreamStream($method, $deserialize, $continuation, array $metadata = [], array $options = [])
    {
        return $continuation($method, $deserialize, $metadata, $options);
    }

    /**
     * $channel with $interceptors in front of it (the first of an array sees each call first).
     *
     * @param Channel|InterceptorChannel $channel
     * @param Interceptor|list<Interceptor> $interceptors
     */
    public static function intercept($channel, $interceptors): InterceptorChannel
    {
        if (!$channel instanceof Channel && !$channel instanceof InterceptorChannel) {
            throw new \TypeError('Interceptor::intercept() takes a PolyRPC\Channel, not ' . get_debug_type($channel));
        }
        $list = is_array($interceptors) ? $interceptors : [$interceptors];
        if (!$list) {
            throw new \InvalidArgumentException('Interceptor::intercept() needs at least one interceptor');
        }
        foreach (array_reverse($list) as $interceptor) {
            if (!$interceptor instanceof self) {
                throw new \TypeError('interceptors extend PolyRPC\Interceptor, not ' . get_debug_type($interceptor));
            }
            $channel = new InterceptorChannel($channel, $interceptor);
        }
        return $channel;
    }
}
