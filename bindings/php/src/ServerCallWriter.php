<?php

namespace PolyRPC;

/**
 * The responses of a server- or bidi-streaming call, as the grpc library's
 * Grpc\ServerCallWriter: write($message) sends one (the context's initial metadata go first).
 * The status goes when the handler returns (ServerContext::setStatus(), default OK), or with
 * finish(). A wait lets the server's other calls run.
 */
class ServerCallWriter
{
    /** @internal */
    public function __construct(private ServerContext $context)
    {
    }

    /**
     * Sends one response; false if the call is over (the client went away).
     *
     * @param array{flags?: int} $options 'flags': WRITE_NO_COMPRESS
     */
    public function write($data, array $options = []): bool
    {
        if (!is_object($data) || !method_exists($data, 'serializeToString')) {
            throw new \TypeError('a response must be a protobuf message, not ' . get_debug_type($data));
        }
        $flags = 0;
        if (isset($options['flags']) && ($options['flags'] & WRITE_NO_COMPRESS)) {
            $flags |= POLYRPC_WRITE_NO_COMPRESS;
        }
        return $this->context->server()->writeMessage($this->context, $data->serializeToString(), $flags);
    }

    /** Ends the call now: $data (if any) then the context's status. */
    public function finish($data = null, array $options = []): void
    {
        if ($data !== null) {
            $this->write($data, $options);
        }
        $this->context->server()->finishCall($this->context);
    }
}
