<?php

namespace PolyRPC;

/**
 * A bidirectional-streaming call, as the grpc library's Grpc\BidiStreamingCall: write(),
 * writesDone() and read() in any order, getStatus() at the end. responses() reads what is
 * left as a generator.
 */
class BidiStreamingCall extends AbstractCall
{
    private bool $writesDone = false;

    /** @param array<string, list<string>|string> $metadata */
    public function start(array $metadata = []): void
    {
        if ($this->createCall($metadata)) {
            ClientStreamingCall::startCall($this->call);
        }
    }

    /** The next response, or null at the end of the stream (getStatus() tells how it ended). */
    public function read()
    {
        if ($this->call === null || $this->status !== null) {
            return null;
        }
        $msg = $this->deserializeResponse(self::takeBytes(polyrpc_call_read($this->call)));
        return $this->status !== null ? null : $msg;
    }

    /** @return \Generator<int, mixed> the responses left */
    public function responses(): \Generator
    {
        while (($msg = $this->read()) !== null) {
            yield $msg;
        }
    }

    /**
     * Sends one request; false if the call has ended already.
     *
     * @param mixed $data the request message
     * @param array{flags?: int} $options 'flags': WRITE_NO_COMPRESS
     */
    public function write($data, array $options = []): bool
    {
        $bytes = $this->serializeMessage($data);
        if ($this->writesDone) {
            throw new \LogicException('write() after writesDone()');
        }
        if ($this->status !== null || $this->call === null) {
            return false;
        }
        return $this->writeMessage($bytes, $options);
    }

    /** No more requests (half-close). */
    public function writesDone(): void
    {
        if ($this->writesDone) {
            return;
        }
        $this->writesDone = true;
        if ($this->call !== null && $this->status === null) {
            ClientStreamingCall::closeSend($this->call);
        }
    }

    /** Waits for the end of the call and returns its status. */
    public function getStatus(): Status
    {
        if ($this->status === null && $this->call === null) {
            throw new \LogicException('getStatus() before start()');
        }
        return $this->receiveStatus();
    }
}
