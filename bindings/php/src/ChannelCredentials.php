<?php

namespace PolyRPC;

/**
 * Transport security of a channel, as the grpc extension's Grpc\ChannelCredentials:
 * createInsecure() (plaintext HTTP/2) or createSsl() (TLS, optionally mutual), and
 * createComposite() to add call credentials sent with every call of the channel.
 */
final class ChannelCredentials
{
    private static ?string $defaultRootsPem = null;

    /** @var mixed the polyrpc_channel_credentials_t handle, made on first use */
    private $handle = null;

    private function __construct(
        private bool $tls,
        private ?string $rootCerts = null,
        private ?string $privateKey = null,
        private ?string $certChain = null,
        private ?CallCredentials $callCredentials = null,
    ) {
    }

    public static function createInsecure(): self
    {
        return new self(false);
    }

    /**
     * TLS. $pem_root_certs: the CA certificates to trust (PEM), or null for
     * setDefaultRootsPem()'s, else the system's. $pem_private_key and $pem_cert_chain: a client
     * certificate for mutual TLS (both or neither).
     */
    public static function createSsl(?string $pem_root_certs = null, ?string $pem_private_key = null,
                                     ?string $pem_cert_chain = null): self
    {
        if (($pem_private_key === null) !== ($pem_cert_chain === null)) {
            throw new \InvalidArgumentException('createSsl(): give both the private key and the certificate chain, or neither');
        }
        $creds = new self(true, $pem_root_certs ?? self::$defaultRootsPem, $pem_private_key, $pem_cert_chain);
        $creds->handle(); // a PEM that does not parse fails here, not at the first call
        return $creds;
    }

    /** TLS with the default roots (setDefaultRootsPem(), else the system's). */
    public static function createDefault(): self
    {
        return self::createSsl();
    }

    /** $channel_creds plus $call_creds, whose metadata goes with every call of the channel. */
    public static function createComposite(self $channel_creds, CallCredentials $call_creds): self
    {
        $calls = $channel_creds->callCredentials
            ? CallCredentials::createComposite($channel_creds->callCredentials, $call_creds)
            : $call_creds;
        return new self($channel_creds->tls, $channel_creds->rootCerts, $channel_creds->privateKey,
                        $channel_creds->certChain, $calls);
    }

    /** The CA certificates createSsl() trusts when given none. */
    public static function setDefaultRootsPem(string $pem_roots): void
    {
        self::$defaultRootsPem = $pem_roots;
    }

    public static function isDefaultRootsPemSet(): bool
    {
        return self::$defaultRootsPem !== null;
    }

    public static function invalidateDefaultRootsPem(): void
    {
        self::$defaultRootsPem = null;
    }

    public function isTls(): bool
    {
        return $this->tls;
    }

    /** @internal */
    public function callCredentials(): ?CallCredentials
    {
        return $this->callCredentials;
    }

    /** @internal what makes two credentials interchangeable, for the persistent channel key */
    public function key(): string
    {
        if (!$this->tls) {
            return 'insecure';
        }
        return 'tls:' . hash('sha256', ($this->rootCerts ?? '-') . "\0" . ($this->privateKey ?? '-') . "\0"
                                       . ($this->certChain ?? '-'));
    }

    /** @internal the native handle, owned by this object */
    public function handle()
    {
        if ($this->handle === null) {
            try {
                $this->handle = $this->tls
                    ? polyrpc_channel_credentials_create_tls($this->rootCerts, $this->certChain, $this->privateKey)
                    : polyrpc_channel_credentials_create_insecure();
            } catch (Native\Error $e) {
                throw new \InvalidArgumentException('TLS credentials: ' . $e->getMessage(), 0, $e);
            }
        }
        return $this->handle;
    }

    public function __destruct()
    {
        if ($this->handle !== null) {
            polyrpc_channel_credentials_destroy($this->handle);
        }
    }
}
