<?php

namespace PolyRPC;

/**
 * One method a service serves, as the grpc library's Grpc\MethodDescriptor: the service
 * object, the name of its PHP method, the request class and the kind of call. Generated
 * service interfaces list theirs in a METHODS constant; a service class may also return them
 * from getMethodDescriptors() (grpc's generated server stubs do), keyed by the method path.
 */
final class MethodDescriptor
{
    public const UNARY_CALL = 'UNARY_CALL';
    public const SERVER_STREAMING_CALL = 'SERVER_STREAMING_CALL';
    public const CLIENT_STREAMING_CALL = 'CLIENT_STREAMING_CALL';
    public const BIDI_STREAMING_CALL = 'BIDI_STREAMING_CALL';

    /** @param class-string $request_type */
    public function __construct(
        public object $service,
        public string $method_name,
        public string $request_type,
        public string $call_type,
    ) {
        if (!in_array($call_type, [self::UNARY_CALL, self::SERVER_STREAMING_CALL, self::CLIENT_STREAMING_CALL,
                                   self::BIDI_STREAMING_CALL], true)) {
            throw new \InvalidArgumentException("unknown call type '$call_type'");
        }
        if (!method_exists($service, $method_name)) {
            throw new \InvalidArgumentException(get_class($service) . " has no method $method_name()");
        }
    }
}
