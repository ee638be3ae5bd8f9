<?php

namespace PolyRPC;

/**
 * How a call ended: the gRPC status code, its details (message) and the trailing metadata.
 *
 * Client calls return one (UnaryCall::wait() gives [$response, $status]; the streaming calls'
 * getStatus()), shaped like the grpc extension's status object: public $code, $details and
 * $metadata. Servers set one (ServerContext::setStatus(Status::status(...))); as grpc's
 * Grpc\Status helpers return arrays, a Status can also be read as one ($status['code']).
 *
 * @implements \ArrayAccess<string, mixed>
 */
class Status implements \ArrayAccess
{
    /** @var int a STATUS_* code */
    public int $code;
    /** @var string the status message */
    public string $details;
    /** @var array<string, list<string>> trailing metadata */
    public array $metadata;

    /** @param array<string, list<string>|string> $metadata */
    public function __construct(int $code, string $details = '', array $metadata = [])
    {
        if ($code < 0 || $code > 16) {
            throw new \InvalidArgumentException("a gRPC status code is 0..16, not $code");
        }
        $this->code = $code;
        $this->details = $details;
        $this->metadata = $metadata;
    }

    /** @param array<string, list<string>|string>|null $metadata trailing metadata */
    public static function status(int $code, string $details, ?array $metadata = null): self
    {
        return new self($code, $details, $metadata ?? []);
    }

    /** @param array<string, list<string>|string>|null $metadata trailing metadata */
    public static function ok(?array $metadata = null): self
    {
        return new self(STATUS_OK, 'OK', $metadata ?? []);
    }

    public static function unimplemented(): self
    {
        return new self(STATUS_UNIMPLEMENTED, 'UNIMPLEMENTED');
    }

    /**
     * A Status from what a server handler gave: a Status, or grpc's array form
     * ['code' => ..., 'details' => ..., 'metadata' => ...].
     *
     * @param Status|array<string, mixed> $status
     */
    public static function from(Status|array $status): self
    {
        if ($status instanceof self) {
            return $status;
        }
        if (!isset($status['code']) || !is_int($status['code'])) {
            throw new \InvalidArgumentException("a status array needs an int 'code'");
        }
        $details = $status['details'] ?? '';
        if (!is_string($details)) {
            throw new \TypeError("a status's 'details' must be a string, not " . get_debug_type($details));
        }
        $md = $status['metadata'] ?? [];
        if (!is_array($md)) {
            throw new \TypeError("a status's 'metadata' must be an array, not " . get_debug_type($md));
        }
        return new self($status['code'], $details, $md);
    }

    public function isOk(): bool
    {
        return $this->code === STATUS_OK;
    }

    /** The name of the code ("DEADLINE_EXCEEDED"). */
    public function codeName(): string
    {
        return polyrpc_status_code_name($this->code);
    }

    /** Throws a StatusException for any code but OK. */
    public function throwIfError(): void
    {
        if ($this->code !== STATUS_OK) {
            throw new StatusException($this);
        }
    }

    public function __toString(): string
    {
        return $this->codeName() . ($this->details !== '' ? ': ' . $this->details : '');
    }

    public function offsetExists(mixed $offset): bool
    {
        return in_array($offset, ['code', 'details', 'metadata'], true);
    }

    public function offsetGet(mixed $offset): mixed
    {
        return match ($offset) {
            'code' => $this->code,
            'details' => $this->details,
            'metadata' => $this->metadata,
            default => null,
        };
    }

    public function offsetSet(mixed $offset, mixed $value): void
    {
        match ($offset) {
            'code' => $this->code = $value,
            'details' => $this->details = $value,
            'metadata' => $this->metadata = $value,
            default => throw new \InvalidArgumentException("a status has no field " . var_export($offset, true)),
        };
    }

    public function offsetUnset(mixed $offset): void
    {
        throw new \LogicException('the fields of a status cannot be unset');
    }
}
