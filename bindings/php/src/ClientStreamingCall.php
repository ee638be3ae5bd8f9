<?php

namespace PolyRPC;

/**
 * A client-streaming call, as the grpc library's Grpc\ClientStreamingCall: write() each
 * request, then wait() half-closes and returns [$response, $status].
 */
class ClientStreamingCall extends AbstractCall
{
    protected function callFlags(): int
    {
        return POLYRPC_CALL_ONE_RESPONSE;
    }

    /** @param array<string, list<string>|string> $metadata */
    public function start(array $metadata = []): void
    {
        if ($this->createCall($metadata)) {
            self::startCall($this->call);
        }
    }

    /** @internal sends the request headers now (blocking); false if the call ended first */
    public static function startCall($call): bool
    {
        try {
            polyrpc_call_start($call, null, 0);
            return true;
        } catch (Native\Error $e) {
            if ($e->getCode() !== POLYRPC_ERROR_CLOSED) {
                throw $e;
            }
            return false;
        }
    }

    /**
     * Sends one request. Returns false if the call has ended already (wait() tells why).
     *
     * @param mixed $data the request message
     * @param array{flags?: int} $options 'flags': WRITE_NO_COMPRESS
     */
    public function write($data, array $options = []): bool
    {
        $bytes = $this->serializeMessage($data);
        if ($this->status !== null || $this->call === null) {
            return false;
        }
        return $this->writeMessage($bytes, $options);
    }

    /** @return array{0: mixed, 1: Status} [$response or null, $status] */
    public function wait(): array
    {
        if ($this->status !== null && $this->call === null) {
            return [null, $this->status];
        }
        if ($this->call === null) {
            throw new \LogicException('wait() before start()');
        }
        self::closeSend($this->call);
        $response = null;
        if ($this->status === null) {
            $response = $this->deserializeResponse(self::takeBytes(polyrpc_call_read($this->call)));
        }
        $status = $this->receiveStatus();
        return [$status->code === STATUS_OK ? $response : null, $status];
    }

    /** The response; a StatusException if the call did not end with OK. */
    public function response()
    {
        [$response, $status] = $this->wait();
        $status->throwIfError();
        return $response;
    }

    /** @internal half-close, blocking; a call that ended first is not an error here */
    public static function closeSend($call): void
    {
        try {
            polyrpc_call_close_send($call, null, 0);
        } catch (Native\Error $e) {
            if ($e->getCode() !== POLYRPC_ERROR_CLOSED) {
                throw $e;
            }
        }
    }
}
