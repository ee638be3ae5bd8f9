<?php

namespace PolyRPC;

/**
 * Per-call credentials: metadata computed for every call by a PHP callable, as the grpc
 * extension's Grpc\CallCredentials::createFromPlugin(). The callable receives a context object
 * with $service_url ("https://host/package.Service") and $method_name, and returns metadata
 * (['authorization' => ['Bearer ...']]). It runs on PHP's thread when the call starts; if it
 * throws, the call does not start and ends with UNAVAILABLE ("Getting metadata from plugin
 * failed with error: ..."), as in gRPC. Attach them to a channel
 * (ChannelCredentials::createComposite), to one call ($call->setCallCredentials(), or the
 * 'call_credentials_callback' call option).
 */
final class CallCredentials
{
    /** @param list<callable> $plugins */
    private function __construct(private array $plugins)
    {
    }

    public static function createFromPlugin(callable $callback): self
    {
        return new self([$callback]);
    }

    /** "authorization: Bearer $token" on every call. */
    public static function createBearer(string $token): self
    {
        if ($token === '' || preg_match('/[^\x20-\x7e]/', $token)) {
            throw new \InvalidArgumentException('a bearer token is printable ASCII and not empty');
        }
        return new self([fn() => ['authorization' => ['Bearer ' . $token]]]);
    }

    public static function createComposite(self $first, self $second): self
    {
        return new self(array_merge($first->plugins, $second->plugins));
    }

    /**
     * @internal the metadata of every plugin, merged.
     * @return array<string, list<string>|string>
     * @throws StatusException UNAVAILABLE when a plugin throws
     */
    public function metadataFor(string $serviceUrl, string $methodName): array
    {
        $context = (object)['service_url' => $serviceUrl, 'method_name' => $methodName];
        $out = [];
        foreach ($this->plugins as $plugin) {
            try {
                $md = $plugin($context);
            } catch (\Throwable $e) {
                throw new StatusException(STATUS_UNAVAILABLE,
                    'Getting metadata from plugin failed with error: ' . $e->getMessage(), [], $e);
            }
            if (!is_array($md)) {
                throw new \TypeError('a call credentials callback must return a metadata array, not '
                    . get_debug_type($md));
            }
            $out = Internal\Metadata::merge($out, $md);
        }
        return $out;
    }
}
