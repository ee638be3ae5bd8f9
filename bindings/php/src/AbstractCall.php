<?php

namespace PolyRPC;

use PolyRPC\Internal\Metadata;

/**
 * What the four kinds of client call share, as the grpc library's Grpc\AbstractCall:
 * getMetadata() (the server's initial metadata), getTrailingMetadata(), getPeer(), cancel(),
 * setCallCredentials(). Made by the generated clients (BaseStub); the native call is created
 * when the call starts and destroyed with this object.
 *
 * Call options ($options of a client method): 'timeout' (microseconds; DEADLINE_EXCEEDED
 * after it), 'call_credentials_callback' (a callable returning metadata, see CallCredentials),
 * 'wait_for_ready' (bool: queue the call while the channel cannot connect, until the deadline),
 * 'compression' ('gzip', 'deflate' or 'identity' for the requests), 'authority' (override of
 * :authority).
 *
 * Every blocking operation runs the call's network I/O on PHP's thread; the deadline bounds
 * it. A message the server sends that does not parse ends the call with INTERNAL.
 */
abstract class AbstractCall
{
    /** @var mixed the polyrpc_call_t handle, once started */
    protected $call = null;
    /** @var array<string, list<string>>|null */
    protected ?array $metadata = null;
    /** @var array<string, list<string>>|null */
    protected ?array $trailing_metadata = null;
    protected ?Status $status = null;
    private int $timeoutMs = -1;
    private int $flags = 0;
    private ?CallCredentials $callCredentials = null;
    protected bool $cancelled = false;
    /** @var array<string, mixed> */
    private array $options;

    /**
     * @param array{0: class-string, 1: string}|callable $deserialize [ResponseClass, 'decode']
     *        as the generated code passes, or a callable(string): mixed
     * @param array<string, mixed> $options
     */
    public function __construct(protected Channel $channel, protected string $method, protected $deserialize,
                                array $options = [])
    {
        if (isset($options['timeout'])) {
            $t = $options['timeout'];
            if (!is_int($t) && !is_float($t)) {
                throw new \TypeError("the 'timeout' option is in microseconds (int), not " . get_debug_type($t));
            }
            $this->timeoutMs = $t <= 0 ? 0 : (int)ceil($t / 1000);
        }
        if (!empty($options['wait_for_ready'])) {
            $this->flags |= POLYRPC_CALL_WAIT_FOR_READY;
        }
        if (isset($options['call_credentials_callback'])) {
            if (!is_callable($options['call_credentials_callback'])) {
                throw new \TypeError("the 'call_credentials_callback' option must be callable");
            }
            $this->callCredentials = CallCredentials::createFromPlugin($options['call_credentials_callback']);
        }
        $this->options = $options;
    }

    /** Per-call credentials, before the call starts (added to the channel's). */
    public function setCallCredentials(CallCredentials $call_credentials): void
    {
        $this->callCredentials = $this->callCredentials
            ? CallCredentials::createComposite($this->callCredentials, $call_credentials) : $call_credentials;
    }

    /**
     * Creates the native call with $metadata (and what the call credentials add). Returns
     * false when the call could not start (a credentials plugin failed: the status says why).
     *
     * @param array<string, list<string>|string> $metadata
     */
    protected function createCall(array $metadata): bool
    {
        if ($this->call !== null) {
            throw new \LogicException('the call has started already');
        }
        $creds = $this->channel->callCredentials();
        if ($this->callCredentials) {
            $creds = $creds ? CallCredentials::createComposite($creds, $this->callCredentials) : $this->callCredentials;
        }
        if ($creds) {
            try {
                $metadata = Metadata::merge($metadata, $creds->metadataFor($this->serviceUrl(), $this->methodName()));
            } catch (StatusException $e) {
                $this->finishWith($e->getStatus());
                return false;
            }
        }
        $md = Metadata::toNative($metadata);
        try {
            $this->call = polyrpc_call_create($this->channel->handle(), $this->method, $this->timeoutMs, $md,
                                              $this->flags | $this->callFlags());
        } finally {
            if ($md !== null) {
                polyrpc_metadata_destroy($md);
            }
        }
        try {
            if (isset($this->options['compression'])) {
                polyrpc_call_set_compression($this->call, (string)$this->options['compression']);
            }
            if (isset($this->options['authority'])) {
                polyrpc_call_set_authority($this->call, (string)$this->options['authority']);
            }
        } catch (Native\Error $e) {
            throw new \InvalidArgumentException($e->getMessage(), 0, $e);
        }
        if ($this->cancelled) {
            polyrpc_call_cancel($this->call);
        }
        return true;
    }

    private function serviceUrl(): string
    {
        $host = $this->channel->getTarget();
        $host = preg_replace('#^(dns:///|ipv4:|ipv6:)#', '', $host);
        if (str_ends_with($host, ':443')) {
            $host = substr($host, 0, -4);
        }
        $slash = strrpos($this->method, '/');
        return 'https://' . $host . substr($this->method, 0, $slash === false ? 0 : $slash);
    }

    private function methodName(): string
    {
        $slash = strrpos($this->method, '/');
        return $slash === false ? $this->method : substr($this->method, $slash + 1);
    }

    /** Records the end of a call that never reached the network. */
    protected function finishWith(Status $status): Status
    {
        $this->status = $status;
        $this->metadata ??= [];
        $this->trailing_metadata = $status->metadata;
        return $status;
    }

    /** The serialized form of a request message. */
    protected function serializeMessage($data): string
    {
        if (is_object($data) && method_exists($data, 'serializeToString')) {
            return $data->serializeToString();
        }
        throw new \TypeError('a request must be a protobuf message (with serializeToString()), not '
            . get_debug_type($data));
    }

    /** Parses a response; a message that does not parse ends the call with INTERNAL. */
    protected function deserializeResponse(?string $value)
    {
        if ($value === null) {
            return null;
        }
        try {
            if (is_array($this->deserialize)) {
                [$class, $fn] = $this->deserialize;
                $obj = new $class();
                if ($fn !== 'decode' && method_exists($obj, $fn)) {
                    $obj->$fn($value);
                } else {
                    $obj->mergeFromString($value);
                }
                return $obj;
            }
            if ($this->deserialize === null) {
                return $value;
            }
            return ($this->deserialize)($value);
        } catch (\Exception $e) {
            $this->cancel();
            $this->finishWith(new Status(STATUS_INTERNAL, 'Failed to parse server response: ' . $e->getMessage()));
            return null;
        }
    }

    /** Takes a received buffer's bytes and releases it. */
    protected static function takeBytes($buf): ?string
    {
        if ($buf === null) {
            return null;
        }
        $bytes = polyrpc_buffer_data($buf);
        polyrpc_buffer_destroy($buf);
        return $bytes;
    }

    /**
     * polyrpc_call_create flags of this kind of call: POLYRPC_CALL_ONE_RESPONSE where the method
     * answers one message (an OK without it, or a second, is then UNIMPLEMENTED).
     */
    protected function callFlags(): int
    {
        return 0;
    }

    /** Sends one message (blocking); false if the call ended first (the status says why). */
    protected function writeMessage(string $bytes, array $options, int $extraFlags = 0): bool
    {
        $flags = $extraFlags;
        if (isset($options['flags'])) {
            if (!is_int($options['flags'])) {
                throw new \TypeError("the 'flags' write option is an int, not " . get_debug_type($options['flags']));
            }
            if ($options['flags'] & WRITE_NO_COMPRESS) {
                $flags |= POLYRPC_WRITE_NO_COMPRESS;
            }
        }
        $buf = polyrpc_buffer_create_copy($bytes);
        try {
            return polyrpc_call_write($this->call, $buf, $flags) === 1;
        } finally {
            polyrpc_buffer_destroy($buf);
        }
    }

    /** Waits for the end of the call and returns its status (once known, at once). */
    protected function receiveStatus(): Status
    {
        if ($this->status !== null) {
            return $this->status;
        }
        polyrpc_call_recv_status($this->call, null, 0);
        [$code, $details] = polyrpc_call_status($this->call);
        $this->trailing_metadata = Metadata::fromNative(polyrpc_call_trailing_metadata($this->call));
        // (the initial metadata are read when asked for: getMetadata())
        return $this->status = new Status($code, $details, $this->trailing_metadata);
    }

    /**
     * The server's initial metadata. Waits for it if it has not arrived yet (a streaming call
     * whose server has sent nothing); [] if the call ended without any.
     *
     * @return array<string, list<string>>
     */
    public function getMetadata(): ?array
    {
        if ($this->metadata === null && $this->call !== null) {
            try {
                polyrpc_call_recv_initial_metadata($this->call, null, 0);
            } catch (Native\Error $e) {
                if ($e->getCode() !== POLYRPC_ERROR_CLOSED) {
                    throw $e;
                }
            }
            $this->metadata = Metadata::fromNative(polyrpc_call_initial_metadata($this->call));
        }
        return $this->metadata;
    }

    /**
     * The trailing metadata, once the call is over (null before).
     *
     * @return array<string, list<string>>|null
     */
    public function getTrailingMetadata(): ?array
    {
        return $this->trailing_metadata;
    }

    /** The server's address ("ipv4:127.0.0.1:50051"). */
    public function getPeer(): string
    {
        return $this->call === null ? '' : polyrpc_call_peer($this->call);
    }

    /** Cancels the call: it ends with CANCELLED (at once if it has not started yet). */
    public function cancel(): void
    {
        $this->cancelled = true;
        if ($this->call !== null) {
            polyrpc_call_cancel($this->call);
        }
    }

    public function __destruct()
    {
        if ($this->call !== null) {
            polyrpc_call_destroy($this->call);
            $this->call = null;
        }
    }
}
