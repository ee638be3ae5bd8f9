<?php

namespace PolyRPC;

use PolyRPC\Internal\Metadata;

/**
 * What a server handler knows of its call and what it sets, as the grpc library's
 * Grpc\ServerContext: clientMetadata(), method(), host(), deadline(); setInitialMetadata()
 * (sent before the first response), setStatus() (the status the call ends with, default OK;
 * its metadata are the trailers). Also: peer(), timeRemaining(), isCancelled(),
 * setTrailingMetadata(), setCompression(). A handler may instead throw a StatusException.
 */
class ServerContext
{
    /** @var array<string, list<string>> */
    private array $clientMetadata;
    /** @var array<string, list<string>|string>|null */
    private ?array $initialMetadata = null;
    private ?Status $status = null;
    /** @var array<string, list<string>|string> */
    private array $trailingMetadata = [];
    private ?float $deadline;
    /** @internal set by the server when the call is over */
    public bool $done = false;
    /** @internal the initial metadata have gone */
    public bool $initialSent = false;
    /** @internal the status has gone (or the call is over) */
    public bool $finished = false;
    /** @internal */
    public bool $lastRequestCompressed = false;

    /** @internal */
    public function __construct(private Server $server, private $call)
    {
        $this->clientMetadata = Metadata::fromNative(polyrpc_call_request_metadata($call));
        $ms = polyrpc_call_time_remaining_ms($call);
        $this->deadline = $ms < 0 ? null : microtime(true) + $ms / 1000;
    }

    /** @return array<string, list<string>> the client's metadata */
    public function clientMetadata(): array
    {
        return $this->clientMetadata;
    }

    /** "/package.Service/Method" */
    public function method(): string
    {
        return polyrpc_call_method($this->call);
    }

    /** The :authority the client sent. */
    public function host(): string
    {
        return (string)polyrpc_call_authority($this->call);
    }

    /** The client's address ("ipv4:127.0.0.1:41234"). */
    public function peer(): string
    {
        return polyrpc_call_peer($this->call);
    }

    /** The client's deadline as a microtime(true) timestamp, or null if it set none. */
    public function deadline(): ?float
    {
        return $this->deadline;
    }

    /** Microseconds left before the client's deadline (0 once passed), or null if none. */
    public function timeRemaining(): ?int
    {
        $ms = polyrpc_call_time_remaining_ms($this->call);
        return $ms < 0 ? null : $ms * 1000;
    }

    /** Whether the call ended without a status from this side (client cancel, deadline, lost connection). */
    public function isCancelled(): bool
    {
        return $this->done && polyrpc_call_is_cancelled($this->call) === 1;
    }

    /** @param array<string, list<string>|string> $initialMetadata sent with the first response or the status */
    public function setInitialMetadata(array $initialMetadata): void
    {
        $this->initialMetadata = $initialMetadata;
    }

    /** @return array<string, list<string>|string>|null */
    public function initialMetadata(): ?array
    {
        return $this->initialMetadata;
    }

    /** @param Status|array<string, mixed> $status Status::status($code, $details, $trailers) or grpc's array form */
    public function setStatus(Status|array $status): void
    {
        $this->status = Status::from($status);
    }

    public function status(): ?Status
    {
        return $this->status;
    }

    /** @param array<string, list<string>|string> $metadata trailers added to the status's */
    public function setTrailingMetadata(array $metadata): void
    {
        $this->trailingMetadata = $metadata;
    }

    /** @internal */
    public function trailingMetadata(): array
    {
        return $this->trailingMetadata;
    }

    /** Compresses the responses ('gzip', 'deflate', 'identity') if the client accepts it. */
    public function setCompression(string $algorithm): void
    {
        try {
            polyrpc_call_set_response_compression($this->call, $algorithm);
        } catch (Native\Error $e) {
            throw new \InvalidArgumentException($e->getMessage(), 0, $e);
        }
    }

    /** Whether the last request message read arrived compressed. */
    public function lastRequestCompressed(): bool
    {
        return $this->lastRequestCompressed;
    }

    /**
     * Waits $microseconds without holding up the server's other calls. Returns false at once
     * when the call ends first (the client cancelled, or its deadline passed).
     */
    public function sleep(int $microseconds): bool
    {
        return $this->server->sleep($this, $microseconds);
    }

    /** Test hook (conformance): drops the call's whole connection abruptly. */
    public function closeConnectionForTesting(): void
    {
        polyrpc_call_close_connection_for_testing($this->call);
    }

    /** @internal */
    public function call()
    {
        return $this->call;
    }

    /** @internal */
    public function server(): Server
    {
        return $this->server;
    }
}
