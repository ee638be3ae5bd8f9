<?php

namespace PolyRPC;

/**
 * A call that ended with a status other than OK, as an exception: getCode() is the gRPC status
 * code (a STATUS_* constant), getMessage() and getDetails() its message, getTrailers() the
 * trailing metadata. Thrown by Status::throwIfError() and by the calls' result helpers
 * (UnaryCall::response(), ...). A server handler throws one to end its call with that status.
 */
class StatusException extends \RuntimeException
{
    private Status $status;

    /**
     * new StatusException($status), or new StatusException($code, $details, $trailers).
     *
     * @param array<string, list<string>|string> $trailers
     */
    public function __construct(Status|int $status, string $details = '', array $trailers = [],
                                ?\Throwable $previous = null)
    {
        $this->status = $status instanceof Status ? $status : new Status($status, $details, $trailers);
        parent::__construct($this->status->details, $this->status->code, $previous);
    }

    public function getStatus(): Status
    {
        return $this->status;
    }

    public function getDetails(): string
    {
        return $this->status->details;
    }

    /** @return array<string, list<string>|string> */
    public function getTrailers(): array
    {
        return $this->status->metadata;
    }

    /** The same as getTrailers(), with the name of the status object's field. */
    public function getMetadata(): array
    {
        return $this->status->metadata;
    }
}
