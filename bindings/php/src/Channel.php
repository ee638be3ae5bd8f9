<?php

namespace PolyRPC;

/**
 * A client channel to one target, as the grpc extension's Grpc\Channel:
 *
 *     $channel = new Channel('127.0.0.1:50051', ['credentials' => ChannelCredentials::createInsecure()]);
 *
 * $args: 'credentials' (required: a ChannelCredentials, or null for plaintext as in grpc),
 * 'force_new' (true: a channel of this object's own instead of the persistent one), and
 * channel arguments with gRPC's names ('grpc.ssl_target_name_override',
 * 'grpc.max_receive_message_length', 'grpc.keepalive_time_ms', 'polyrpc.busy_poll_us', ...):
 * int, bool or string values.
 *
 * Persistent by default, as in grpc: channels with the same target, credentials and arguments
 * are one channel per process, kept in a table of the extension that no request owns
 * (bindings/php/ext/polyrpc_php.c), so under php-fpm the next request of a worker reuses the
 * connection. After a fork (pcntl_fork, php-fpm's workers) the child gets a fresh channel on
 * its next call. close() closes a persistent channel for every holder and forgets it.
 */
class Channel
{
    /** @var mixed the polyrpc_channel_t handle */
    private $handle;
    private bool $persistent;
    private string $key = '';
    private int $pid;
    private ChannelCredentials $credentials;
    /** @var array<string, int|string> */
    private array $options = [];
    private bool $closed = false;

    /** @param array<string, mixed> $args */
    public function __construct(private string $target, array $args)
    {
        if (!array_key_exists('credentials', $args)) {
            throw new \InvalidArgumentException("The opts['credentials'] key is required: "
                . 'ChannelCredentials::createInsecure() or ChannelCredentials::createSsl()');
        }
        $creds = $args['credentials'] ?? ChannelCredentials::createInsecure();
        if (!$creds instanceof ChannelCredentials) {
            throw new \TypeError("'credentials' must be a PolyRPC\\ChannelCredentials or null, not " . get_debug_type($creds));
        }
        $this->credentials = $creds;
        $this->persistent = empty($args['force_new']);
        unset($args['credentials'], $args['force_new'], $args['grpc_target_persist'], $args['update_metadata']);
        foreach ($args as $name => $value) {
            if (!is_string($name)) {
                throw new \InvalidArgumentException('channel arguments are named: ' . var_export($name, true));
            }
            if (is_bool($value)) {
                $value = (int)$value;
            } elseif (!is_int($value) && !is_string($value)) {
                throw new \TypeError("channel argument '$name' must be an int, bool or string, not " . get_debug_type($value));
            }
            $this->options[$name] = $value;
        }
        ksort($this->options);
        if ($this->persistent) {
            $this->key = $target . "\0" . $creds->key() . "\0" . serialize($this->options);
        }
        $this->open();
    }

    private function open(): void
    {
        $opts = null;
        if ($this->options) {
            $opts = polyrpc_options_create();
        }
        try {
            foreach ($this->options as $name => $value) {
                try {
                    is_int($value) ? polyrpc_options_set_int($opts, $name, $value)
                                   : polyrpc_options_set_string($opts, $name, $value);
                } catch (Native\Error $e) {
                    throw new \InvalidArgumentException("channel argument '$name': " . $e->getMessage(), 0, $e);
                }
            }
            try {
                $this->handle = $this->persistent
                    ? polyrpc_php_channel_acquire($this->key, $this->target, $this->credentials->handle(), $opts)
                    : polyrpc_channel_create($this->target, $this->credentials->handle(), $opts);
            } catch (Native\Error $e) {
                throw new \InvalidArgumentException("channel to '{$this->target}': " . $e->getMessage(), 0, $e);
            }
            $this->pid = getmypid();
        } finally {
            if ($opts !== null) {
                polyrpc_options_destroy($opts);
            }
        }
    }

    /** @internal the native handle, for this process */
    public function handle()
    {
        if ($this->pid !== getmypid() && $this->persistent && !$this->closed) {
            // Forked: the parent's channel is closed here; the table makes a new one.
            $this->open();
        }
        return $this->handle;
    }

    /** @internal */
    public function callCredentials(): ?CallCredentials
    {
        return $this->credentials->callCredentials();
    }

    public function getTarget(): string
    {
        return $this->target;
    }

    public function isPersistent(): bool
    {
        return $this->persistent;
    }

    /** A CHANNEL_* state; $try_to_connect starts connecting an idle channel. */
    public function getConnectivityState(bool $try_to_connect = false): int
    {
        return polyrpc_channel_get_state($this->handle(), $try_to_connect ? 1 : 0);
    }

    /**
     * Waits until the state differs from $last_state, for at most $timeout microseconds.
     * Returns true if it changed (read it with getConnectivityState()), false at the timeout.
     */
    public function watchConnectivityState(int $last_state, int $timeout): bool
    {
        $ms = $timeout <= 0 ? 0 : intdiv($timeout + 999, 1000);
        return polyrpc_channel_wait_for_state_change_v2($this->handle(), $last_state, $ms) !== $last_state;
    }

    /** Waits up to $timeout microseconds for the channel to be READY (connecting it if idle). */
    public function waitForReady(int $timeout): bool
    {
        $deadline = microtime(true) + $timeout / 1e6;
        $state = $this->getConnectivityState(true);
        while ($state !== CHANNEL_READY) {
            if ($state === CHANNEL_SHUTDOWN) {
                return false;
            }
            $left = (int)(($deadline - microtime(true)) * 1e6);
            if ($left <= 0 || !$this->watchConnectivityState($state, $left)) {
                return $this->getConnectivityState() === CHANNEL_READY;
            }
            $state = $this->getConnectivityState(true);
        }
        return true;
    }

    /**
     * Closes the channel: its calls end with CANCELLED, new ones with UNAVAILABLE. A persistent
     * channel is closed for every object holding it and taken out of the table.
     */
    public function close(): void
    {
        if ($this->closed) {
            return;
        }
        $this->closed = true;
        if ($this->persistent) {
            if ($this->pid === getmypid()) {
                polyrpc_php_channel_close_persistent($this->key);
            }
        } else {
            polyrpc_channel_close($this->handle);
        }
    }

    public function __destruct()
    {
        if ($this->handle === null) {
            return;
        }
        if ($this->persistent) {
            polyrpc_php_channel_release($this->handle);
        } else {
            polyrpc_channel_destroy($this->handle);
        }
        $this->handle = null;
    }
}
