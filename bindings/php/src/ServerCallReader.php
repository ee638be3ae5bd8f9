<?php

namespace PolyRPC;

/**
 * The client's messages of a client- or bidi-streaming call, as the grpc library's
 * Grpc\ServerCallReader: read() gives the next one or null at the end. Also iterable:
 * foreach ($reader as $request) { ... }. A wait lets the server's other calls run.
 *
 * @implements \IteratorAggregate<int, mixed>
 */
class ServerCallReader implements \IteratorAggregate
{
    private bool $ended = false;
    private bool $lastCompressed = false;

    /** @internal @param class-string $requestType */
    public function __construct(private ServerContext $context, private string $requestType)
    {
    }

    /** The next request, or null at the end of the stream (or once the call is over). */
    public function read()
    {
        if ($this->ended) {
            return null;
        }
        $bytes = $this->context->server()->readMessage($this->context, $this->lastCompressed);
        if ($bytes === null) {
            $this->ended = true;
            return null;
        }
        $msg = new $this->requestType();
        try {
            $msg->mergeFromString($bytes);
        } catch (\Exception $e) {
            throw new StatusException(STATUS_INTERNAL, 'Failed to parse request: ' . $e->getMessage());
        }
        return $msg;
    }

    /** Whether the last request read arrived compressed. */
    public function lastCompressed(): bool
    {
        return $this->lastCompressed;
    }

    public function getIterator(): \Generator
    {
        while (($msg = $this->read()) !== null) {
            yield $msg;
        }
    }
}
