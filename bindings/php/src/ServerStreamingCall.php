<?php

namespace PolyRPC;

/**
 * A server-streaming call, as the grpc library's Grpc\ServerStreamingCall: responses() is a
 * generator of the server's messages, getStatus() the status once they are all read.
 */
class ServerStreamingCall extends AbstractCall
{
    /**
     * @param mixed $data the request message
     * @param array<string, list<string>|string> $metadata
     */
    public function start($data, array $metadata = [], array $options = []): void
    {
        $bytes = $this->serializeMessage($data);
        if ($this->createCall($metadata)) {
            $this->writeMessage($bytes, $options, POLYRPC_WRITE_LAST);
        }
    }

    /**
     * The responses, as they arrive; the generator ends with the stream (read getStatus() to
     * know how the call ended).
     *
     * @return \Generator<int, mixed>
     */
    public function responses(): \Generator
    {
        if ($this->call === null) {
            return;
        }
        while ($this->status === null && ($buf = polyrpc_call_read($this->call)) !== null) {
            $msg = $this->deserializeResponse(self::takeBytes($buf));
            if ($this->status !== null) {
                return; // did not parse: the call is over with INTERNAL
            }
            yield $msg;
        }
    }

    /** Waits for the end of the call (reading what is left of the stream) and returns its status. */
    public function getStatus(): Status
    {
        if ($this->status === null && $this->call === null) {
            throw new \LogicException('getStatus() before start()');
        }
        return $this->receiveStatus();
    }
}
