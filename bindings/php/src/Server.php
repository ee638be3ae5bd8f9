<?php

namespace PolyRPC;

use PolyRPC\Internal\Metadata;

/**
 * A gRPC server for php-cli, on PHP's one thread:
 *
 *     $server = new PolyRPC\Server();
 *     $port = $server->addHttp2Port('127.0.0.1:50051');
 *     $server->handle(new MyGreeter());      // implements the generated GreeterInterface
 *     $server->run();                        // until stop(), SIGTERM or SIGINT
 *
 * Services are objects implementing generated service interfaces (their METHODS constant
 * names each method's path, kind and request class), or with grpc's getMethodDescriptors().
 * Handler signatures (the same as grpc's generated server stubs):
 *   unary            Method(Request $request, ServerContext $context): ?Response
 *   server streaming Method(Request $request, ServerCallWriter $writer, ServerContext $context): void
 *   client streaming Method(ServerCallReader $reader, ServerContext $context): ?Response
 *   bidi streaming   Method(ServerCallReader $reader, ServerCallWriter $writer, ServerContext $context): void
 * A handler ends its call with ServerContext::setStatus() or by throwing a StatusException;
 * any other exception ends it with UNKNOWN ("Exception calling application: ...").
 *
 * How it runs: one completion queue of libpolyrpc (polyrpc_server_request_call_v2 and
 * polyrpc_server_take_call for incoming calls) and one PHP Fiber per call. A handler that
 * waits for a message or for a write to go suspends its Fiber, and the loop serves the other
 * calls meanwhile, so slow clients and long streams do not hold up the rest. The queue is
 * interruptible (polyrpc_cq_set_interruptible): a signal ends the wait, PHP runs its pcntl
 * handlers, and SIGTERM or SIGINT (handled while run() runs, unless 'handle_signals' => false)
 * stop the server gracefully: no new calls, the running ones get the grace period, then the
 * rest are cancelled and every native object is released.
 *
 * Options: channel-argument names for the server ('grpc.max_receive_message_length',
 * 'grpc.keepalive_time_ms', ...), plus 'handle_signals' (default true) and 'log_errors'
 * (default true: handler exceptions other than StatusException go to STDERR).
 */
class Server
{
    private const REQUEST_TAG = 1;

    /** @var mixed polyrpc_server_t */
    private $server;
    /** @var mixed polyrpc_cq_t */
    private $cq;
    /** @var array<string, MethodDescriptor> path => descriptor */
    private array $paths = [];
    private bool $started = false;
    private ?HealthService $health = null;
    private bool $stopping = false;
    private bool $torndown = false;
    private bool $requestPending = false;
    private float $graceDeadline = 0.0;
    private int $nextTag = 16;
    /** @var array<int, \Fiber> tag => the Fiber waiting for it */
    private array $waiting = [];
    /** @var array<int, array{0: float, 1: \Fiber, 2: ServerContext}> sleeping Fibers: [wake-up time, Fiber, context] */
    private array $timers = [];
    /** @var array<int, int> recv_close tag => call id */
    private array $closeTags = [];
    /** @var array<int, object> call id => {ctx, fiber, closed, fiberDone} */
    private array $calls = [];
    private int $callSeq = 0;
    private int $served = 0;
    private bool $handleSignals;
    private bool $logErrors;

    /** @param array<string, mixed> $options */
    public function __construct(array $options = [])
    {
        $this->handleSignals = (bool)($options['handle_signals'] ?? true);
        $this->logErrors = (bool)($options['log_errors'] ?? true);
        unset($options['handle_signals'], $options['log_errors']);
        $opts = null;
        try {
            if ($options) {
                $opts = polyrpc_options_create();
                foreach ($options as $name => $value) {
                    if (!is_string($name)) {
                        throw new \InvalidArgumentException('server options are named: ' . var_export($name, true));
                    }
                    if (is_bool($value)) {
                        $value = (int)$value;
                    }
                    try {
                        if (is_int($value)) {
                            polyrpc_options_set_int($opts, $name, $value);
                        } elseif (is_string($value)) {
                            polyrpc_options_set_string($opts, $name, $value);
                        } else {
                            throw new \TypeError("server option '$name' must be an int, bool or string, not "
                                . get_debug_type($value));
                        }
                    } catch (Native\Error $e) {
                        throw new \InvalidArgumentException("server option '$name': " . $e->getMessage(), 0, $e);
                    }
                }
            }
            $this->server = polyrpc_server_create($opts);
        } finally {
            if ($opts !== null) {
                polyrpc_options_destroy($opts);
            }
        }
        $this->cq = polyrpc_cq_create();
        polyrpc_cq_set_interruptible($this->cq, 1);
    }

    /** Listens on $addr ("127.0.0.1:0", "[::]:50051", "unix:/path") in plaintext; returns the port. */
    public function addHttp2Port(string $addr): int
    {
        return $this->addSecureHttp2Port($addr, ServerCredentials::createInsecure());
    }

    /** Listens on $addr with TLS; returns the port. */
    public function addSecureHttp2Port(string $addr, ServerCredentials $creds): int
    {
        if ($this->started) {
            throw new \LogicException('ports are added before the server starts');
        }
        try {
            return polyrpc_server_add_listener($this->server, $addr, $creds->handle());
        } catch (Native\Error $e) {
            throw new \RuntimeException("cannot listen on '$addr': " . $e->getMessage(), $e->getCode(), $e);
        }
    }

    /**
     * Adds a service: an object implementing generated service interfaces, or one with
     * getMethodDescriptors(). Returns every path served so far.
     *
     * @return array<string, MethodDescriptor>
     */
    public function handle(object $service): array
    {
        if ($this->started) {
            throw new \LogicException('services are added before the server starts');
        }
        $found = [];
        if (method_exists($service, 'getMethodDescriptors')) {
            foreach ($service->getMethodDescriptors() as $path => $desc) {
                if (!$desc instanceof MethodDescriptor) {
                    throw new \TypeError('getMethodDescriptors() must return MethodDescriptor objects');
                }
                $found[$path] = $desc;
            }
        }
        foreach (class_implements($service) as $iface) {
            if (!defined($iface . '::METHODS')) {
                continue;
            }
            foreach (constant($iface . '::METHODS') as $name => [$path, $kind, $requestType]) {
                $found[$path] ??= new MethodDescriptor($service, $name, $requestType, $kind);
            }
        }
        if (!$found) {
            throw new \InvalidArgumentException(get_class($service) . ' implements no generated service interface'
                . ' and has no getMethodDescriptors()');
        }
        $this->paths = array_merge($this->paths, $found);
        return $this->paths;
    }

    /** The same as handle(). */
    public function addService(object $service): array
    {
        return $this->handle($service);
    }

    /**
     * Serves grpc.health.v1.Health (Check, Watch) from the core; before start(). Returns the
     * HealthService whose set() changes a status at run time (the same one if called again).
     */
    public function enableHealth(): HealthService
    {
        if ($this->started) {
            throw new \LogicException('enableHealth() comes before the server starts');
        }
        if ($this->health === null) {
            polyrpc_server_enable_health($this->server);
            $this->health = new HealthService($this->server);
        }
        return $this->health;
    }

    /**
     * Serves server reflection (grpc.reflection.v1 and v1alpha) from the core; before start().
     * $fileDescriptorSet: a serialized google.protobuf.FileDescriptorSet of the services' files
     * and their imports (protoc --descriptor_set_out=F --include_imports), or null. The
     * services handled are listed either way; the health and reflection ones are described.
     */
    public function enableReflection(?string $fileDescriptorSet = null): void
    {
        if ($this->started) {
            throw new \LogicException('enableReflection() comes before the server starts');
        }
        $pool = null;
        try {
            if ($fileDescriptorSet !== null) {
                $pool = polyrpc_descriptor_pool_create();
                polyrpc_descriptor_pool_add_file_set($pool, $fileDescriptorSet);
            }
            polyrpc_server_enable_reflection($this->server, $pool);
        } catch (Native\Error $e) {
            throw new \InvalidArgumentException('cannot enable reflection: ' . $e->getMessage(), $e->getCode(), $e);
        } finally {
            if ($pool !== null) {
                polyrpc_descriptor_pool_destroy($pool);
            }
        }
    }

    /** Starts accepting calls (run() does it if needed); they are served while run() runs. */
    public function start(): void
    {
        if ($this->started) {
            return;
        }
        foreach (array_keys($this->paths) as $path) {
            polyrpc_server_register_method($this->server, $path);
        }
        polyrpc_server_start($this->server);
        $this->started = true;
        $this->request();
    }

    /** Serves calls until stop() (from a handler or a signal handler), SIGTERM or SIGINT. */
    public function run(): void
    {
        if ($this->torndown) {
            throw new \LogicException('the server has been shut down');
        }
        $this->start();
        $previous = $this->installSignalHandlers();
        try {
            while (true) {
                if ($this->stopping) {
                    $left = $this->graceDeadline - microtime(true);
                    if (!$this->calls || $left <= 0) {
                        break;
                    }
                    $timeout = (int)min(200, max(1, ceil($left * 1000)));
                } else {
                    $timeout = -1;
                }
                $timeout = $this->timerTimeout($timeout);
                [$type, $tag, $ok] = polyrpc_cq_next($this->cq, $timeout);
                $this->dispatch($type, $tag, $ok);
                $this->fireTimers();
                if ($previous !== null) {
                    pcntl_signal_dispatch();
                }
            }
        } finally {
            $this->teardown();
            $this->restoreSignalHandlers($previous);
        }
    }

    /**
     * Stops the server: calls that arrive from now on are answered UNAVAILABLE ("the server is
     * shutting down"); run() returns once the calls under way are done, or after $grace seconds,
     * when the rest are cancelled. Safe from handlers and signal handlers.
     */
    public function stop(float $grace = 5.0): void
    {
        if (!$this->stopping) {
            $this->stopping = true;
            $this->graceDeadline = microtime(true) + max(0.0, $grace);
        }
    }

    /** Stops at once (cancelling any call) and releases everything; for a server not running. */
    public function shutdown(): void
    {
        $this->stop(0);
        $this->teardown();
    }

    /** Calls served since the start. */
    public function servedCalls(): int
    {
        return $this->served;
    }

    /** Calls under way now. */
    public function activeCalls(): int
    {
        return count($this->calls);
    }

    public function __destruct()
    {
        $this->teardown();
    }

    // ---- the loop ----------------------------------------------------------------------------

    private function request(): void
    {
        // While stopping, calls are still taken, to be answered UNAVAILABLE at once (accept()):
        // the C ABI has no GOAWAY that keeps the loop running (see docs/php.md).
        if (!$this->requestPending && !$this->torndown) {
            polyrpc_server_request_call_v2($this->server, $this->cq, self::REQUEST_TAG);
            $this->requestPending = true;
        }
    }

    private function dispatch(int $type, int $tag, int $ok): void
    {
        if ($type !== POLYRPC_EVENT_COMPLETE) {
            return; // NONE (timeout), WAKEUP, INTERRUPTED (signal handlers run next), SHUTDOWN
        }
        if ($tag === self::REQUEST_TAG) {
            $this->requestPending = false;
            if ($ok) {
                $this->accept(polyrpc_server_take_call($this->server, self::REQUEST_TAG));
                $this->request();
            }
            return;
        }
        if (isset($this->waiting[$tag])) {
            $fiber = $this->waiting[$tag];
            unset($this->waiting[$tag]);
            $this->step($fiber, $ok === 1);
            return;
        }
        if (isset($this->closeTags[$tag])) {
            $id = $this->closeTags[$tag];
            unset($this->closeTags[$tag]);
            if (isset($this->calls[$id])) {
                $this->calls[$id]->closed = true;
                $this->calls[$id]->ctx->done = true;
                $this->wakeSleeper($this->calls[$id]->ctx);
                $this->release($id);
            }
        }
    }

    private function accept($call): void
    {
        $id = ++$this->callSeq;
        $ctx = new ServerContext($this, $call);
        $desc = $this->paths[polyrpc_call_method($call)] ?? null;
        $state = (object)['ctx' => $ctx, 'fiber' => null, 'closed' => false, 'fiberDone' => false, 'id' => $id];
        $closeTag = $this->nextTag++;
        polyrpc_call_recv_close($call, $this->cq, $closeTag);
        $this->closeTags[$closeTag] = $id;
        $late = $this->stopping;
        $state->fiber = new \Fiber(function () use ($desc, $ctx, $late) {
            if ($late) {
                $ctx->setStatus(new Status(STATUS_UNAVAILABLE, 'the server is shutting down'));
                $this->finishCall($ctx);
                return;
            }
            $this->serve($desc, $ctx);
        });
        $this->calls[$id] = $state;
        $this->served++;
        $this->step($state->fiber, null, $id);
    }

    /** Starts or resumes a call's Fiber until it waits again or ends. */
    private function step(\Fiber $fiber, ?bool $value, ?int $id = null): void
    {
        try {
            if ($fiber->isStarted()) {
                $fiber->resume($value);
            } else {
                $fiber->start();
            }
        } catch (\Throwable $e) {
            $this->log('polyrpc server: internal error: ' . $e);
        }
        if ($fiber->isTerminated()) {
            foreach ($this->calls as $cid => $state) {
                if ($state->fiber === $fiber) {
                    $state->fiberDone = true;
                    $this->release($cid);
                    break;
                }
            }
        }
    }

    /** A call goes once its handler is done and the call is over. */
    private function release(int $id): void
    {
        $state = $this->calls[$id];
        if ($state->fiberDone && $state->closed) {
            polyrpc_call_destroy($state->ctx->call());
            unset($this->calls[$id]);
        }
    }

    private function serve(?MethodDescriptor $desc, ServerContext $ctx): void
    {
        try {
            if ($desc === null) {
                throw new StatusException(STATUS_UNIMPLEMENTED, 'Method not found: ' . $ctx->method());
            }
            $reader = new ServerCallReader($ctx, $desc->request_type);
            $writer = new ServerCallWriter($ctx);
            $service = $desc->service;
            $name = $desc->method_name;
            switch ($desc->call_type) {
                case MethodDescriptor::UNARY_CALL:
                    // One request message: none, or a second, ends the call UNIMPLEMENTED in
                    // the core (gRPC's doc/statuscodes.md).
                    polyrpc_call_expect_one_request($ctx->call());
                    $request = $reader->read();
                    if ($request === null) {
                        if ($ctx->done) {
                            return;
                        }
                        throw new StatusException(STATUS_INTERNAL, 'the client sent no request message');
                    }
                    $this->respond($ctx, $writer, $service->$name($request, $ctx));
                    break;
                case MethodDescriptor::SERVER_STREAMING_CALL:
                    // One request message: none, or a second, ends the call UNIMPLEMENTED in
                    // the core (gRPC's doc/statuscodes.md).
                    polyrpc_call_expect_one_request($ctx->call());
                    $request = $reader->read();
                    if ($request === null) {
                        if ($ctx->done) {
                            return;
                        }
                        throw new StatusException(STATUS_INTERNAL, 'the client sent no request message');
                    }
                    $service->$name($request, $writer, $ctx);
                    break;
                case MethodDescriptor::CLIENT_STREAMING_CALL:
                    $this->respond($ctx, $writer, $service->$name($reader, $ctx));
                    break;
                case MethodDescriptor::BIDI_STREAMING_CALL:
                    $service->$name($reader, $writer, $ctx);
                    break;
            }
        } catch (StatusException $e) {
            $ctx->setStatus($e->getStatus());
        } catch (\Throwable $e) {
            $this->log('polyrpc server: ' . $ctx->method() . ': ' . $e);
            $ctx->setStatus(new Status(STATUS_UNKNOWN, 'Exception calling application: ' . $e->getMessage()));
        } finally {
            $this->finishCall($ctx);
        }
    }

    /** The single response of a unary or client-streaming handler. */
    private function respond(ServerContext $ctx, ServerCallWriter $writer, $response): void
    {
        $status = $ctx->status();
        if ($status !== null && $status->code !== STATUS_OK) {
            return; // the status says why there is no response
        }
        if ($response === null) {
            throw new StatusException(STATUS_INTERNAL, 'the handler returned no response');
        }
        $writer->write($response);
    }

    private function log(string $what): void
    {
        if ($this->logErrors) {
            fwrite(STDERR, $what . "\n");
        }
    }

    // ---- operations of handlers, each waiting in its Fiber ----------------------------------

    /** Starts one operation with a fresh tag and suspends the Fiber until it completes. */
    private function await(callable $start): bool
    {
        $fiber = \Fiber::getCurrent();
        if ($fiber === null) {
            throw new \LogicException('server call operations run inside the handlers that Server::run() calls');
        }
        $tag = $this->nextTag++;
        try {
            $start($tag);
        } catch (Native\Error $e) {
            if ($e->getCode() === POLYRPC_ERROR_CLOSED) {
                return false; // the call or the queue is over
            }
            throw $e;
        }
        $this->waiting[$tag] = $fiber;
        return (bool)\Fiber::suspend();
    }

    /**
     * @internal Suspends the handler's Fiber for $microseconds while the other calls are
     * served; false if its call ended first (then at once).
     */
    public function sleep(ServerContext $ctx, int $microseconds): bool
    {
        $fiber = \Fiber::getCurrent();
        if ($fiber === null) {
            throw new \LogicException('ServerContext::sleep() runs inside the handlers that Server::run() calls');
        }
        if ($ctx->done) {
            return false;
        }
        $this->timers[spl_object_id($fiber)] = [microtime(true) + max(0, $microseconds) / 1e6, $fiber, $ctx];
        return (bool)\Fiber::suspend();
    }

    private function timerTimeout(int $timeout): int
    {
        if (!$this->timers) {
            return $timeout;
        }
        $next = min(array_map(fn($t) => $t[0], $this->timers));
        $ms = (int)max(0, ceil(($next - microtime(true)) * 1000));
        return $timeout < 0 ? $ms : min($timeout, $ms);
    }

    private function fireTimers(): void
    {
        if (!$this->timers) {
            return;
        }
        $now = microtime(true);
        foreach ($this->timers as $id => [$when, $fiber, $ctx]) {
            if ($when <= $now && isset($this->timers[$id])) {
                unset($this->timers[$id]);
                $this->step($fiber, !$ctx->done);
            }
        }
    }

    private function wakeSleeper(ServerContext $ctx): void
    {
        foreach ($this->timers as $id => [, $fiber, $tctx]) {
            if ($tctx === $ctx) {
                unset($this->timers[$id]);
                $this->step($fiber, false);
            }
        }
    }

    /** @internal */
    public function readMessage(ServerContext $ctx, bool &$compressed): ?string
    {
        $call = $ctx->call();
        if (!$this->await(fn($tag) => polyrpc_call_recv_message($call, $this->cq, $tag))) {
            return null;
        }
        [$buf, $c] = polyrpc_call_take_message($call);
        $compressed = $c === 1;
        $ctx->lastRequestCompressed = $compressed;
        if ($buf === null) {
            return null;
        }
        $bytes = polyrpc_buffer_data($buf);
        polyrpc_buffer_destroy($buf);
        return $bytes;
    }

    /** @internal */
    public function writeMessage(ServerContext $ctx, string $bytes, int $flags): bool
    {
        if ($ctx->finished) {
            throw new \LogicException('write() after the call finished');
        }
        $this->sendInitialMetadata($ctx);
        $call = $ctx->call();
        $buf = polyrpc_buffer_create_copy($bytes);
        try {
            return $this->await(fn($tag) => polyrpc_call_send_message($call, $buf, $flags, $this->cq, $tag));
        } finally {
            polyrpc_buffer_destroy($buf);
        }
    }

    private function sendInitialMetadata(ServerContext $ctx): void
    {
        if ($ctx->initialSent) {
            return;
        }
        $ctx->initialSent = true;
        $initial = $ctx->initialMetadata();
        if (!$initial) {
            return; // the first message or the status sends the headers
        }
        $md = Metadata::toNative($initial);
        try {
            $call = $ctx->call();
            $this->await(fn($tag) => polyrpc_call_send_initial_metadata($call, $md, $this->cq, $tag));
        } finally {
            polyrpc_metadata_destroy($md);
        }
    }

    /** @internal sends the context's status (once) */
    public function finishCall(ServerContext $ctx): void
    {
        if ($ctx->finished) {
            return;
        }
        $ctx->finished = true;
        $status = $ctx->status() ?? Status::ok();
        $trailers = Metadata::merge($status->metadata, $ctx->trailingMetadata());
        try {
            $this->sendInitialMetadata($ctx);
            $md = Metadata::toNative($trailers);
        } catch (\InvalidArgumentException|\TypeError $e) {
            $this->log('polyrpc server: ' . $ctx->method() . ': bad metadata: ' . $e->getMessage());
            $status = new Status(STATUS_INTERNAL, 'the server set invalid metadata');
            $md = null;
        }
        try {
            $call = $ctx->call();
            $this->await(fn($tag) => polyrpc_call_send_status($call, $status->code, $status->details, $md,
                                                              $this->cq, $tag));
        } finally {
            if ($md !== null) {
                polyrpc_metadata_destroy($md);
            }
        }
    }

    // ---- the end -----------------------------------------------------------------------------

    private function teardown(): void
    {
        if ($this->torndown || $this->server === null) {
            return;
        }
        $this->torndown = true;
        $this->stopping = true;
        // Calls still running are cancelled; their operations and the pending request complete
        // (success=0) and the Fibers run to their end.
        polyrpc_server_shutdown($this->server, 0);
        foreach ($this->timers as $id => [, $fiber]) {
            unset($this->timers[$id]);
            $this->step($fiber, false);
        }
        $deadline = microtime(true) + 5;
        while (($this->calls || $this->requestPending) && microtime(true) < $deadline) {
            [$type, $tag, $ok] = polyrpc_cq_next($this->cq, 100);
            $this->dispatch($type, $tag, $ok);
        }
        // Every tag comes back once (docs/bindings.md, lifetimes): then SHUTDOWN.
        polyrpc_cq_shutdown($this->cq);
        polyrpc_cq_cancel_pending($this->cq);
        while (microtime(true) < $deadline + 5) {
            [$type, $tag, $ok] = polyrpc_cq_next($this->cq, 100);
            if ($type === POLYRPC_EVENT_SHUTDOWN) {
                break;
            }
            $this->dispatch($type, $tag, $ok);
        }
        foreach ($this->calls as $state) {
            polyrpc_call_destroy($state->ctx->call());
        }
        $this->calls = [];
        $this->waiting = [];
        $this->closeTags = [];
        polyrpc_server_destroy($this->server);
        polyrpc_cq_destroy($this->cq);
        $this->server = null;
        $this->cq = null;
    }

    /** @return array<int, mixed>|null the handlers replaced, or null if none was installed */
    private function installSignalHandlers(): ?array
    {
        if (!$this->handleSignals || !function_exists('pcntl_signal')) {
            return null;
        }
        $previous = [];
        foreach ([SIGTERM, SIGINT] as $sig) {
            $previous[$sig] = pcntl_signal_get_handler($sig);
            // No SA_RESTART: the queue's wait must see the signal (EINTR) to return.
            pcntl_signal($sig, function () {
                $this->stop();
            }, false);
        }
        return $previous;
    }

    private function restoreSignalHandlers(?array $previous): void
    {
        if ($previous === null) {
            return;
        }
        foreach ($previous as $sig => $handler) {
            pcntl_signal($sig, $handler ?? SIG_DFL);
        }
    }
}
