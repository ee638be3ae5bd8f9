<?php

namespace PolyRPC;

/**
 * A unary call, as the grpc library's Grpc\UnaryCall: the generated client method starts it,
 * wait() runs it to its end and returns [$response, $status] ($response null unless the
 * status is OK). response() returns the response or throws a StatusException.
 */
class UnaryCall extends AbstractCall
{
    protected function callFlags(): int
    {
        return POLYRPC_CALL_ONE_RESPONSE;
    }

    private ?string $request = null;
    /** @var array{0: mixed, 1: Status}|null */
    private ?array $result = null;

    /**
     * @param mixed $data the request message
     * @param array<string, list<string>|string> $metadata
     * @param array<string, mixed> $options unused (the options were given to the constructor)
     */
    public function start($data, array $metadata = [], array $options = []): void
    {
        $this->request = $this->serializeMessage($data);
        $this->createCall($metadata);
    }

    /** @return array{0: mixed, 1: Status} [$response or null, $status] */
    public function wait(): array
    {
        if ($this->result !== null) {
            return $this->result;
        }
        if ($this->status !== null) { // never reached the network
            return $this->result = [null, $this->status];
        }
        if ($this->call === null) {
            throw new \LogicException('wait() before start()');
        }
        $resp = null;
        if (!$this->cancelled) { // a call cancelled before it ran has only its status left
            $buf = polyrpc_buffer_create_copy($this->request);
            try {
                $resp = polyrpc_call_unary($this->call, $buf);
            } finally {
                polyrpc_buffer_destroy($buf);
            }
        }
        $this->request = null;
        $response = $this->deserializeResponse(self::takeBytes($resp));
        $status = $this->receiveStatus();
        return $this->result = [$status->code === STATUS_OK ? $response : null, $status];
    }

    /** The response; a StatusException if the call did not end with OK. */
    public function response()
    {
        [$response, $status] = $this->wait();
        $status->throwIfError();
        return $response;
    }

    public function getMetadata(): ?array
    {
        $this->wait();
        return parent::getMetadata();
    }

    public function getTrailingMetadata(): ?array
    {
        $this->wait();
        return $this->trailing_metadata;
    }

    public function getStatus(): Status
    {
        return $this->wait()[1];
    }
}
