<?php

namespace PolyRPC;

/**
 * Transport security of a server listener, as the grpc extension's Grpc\ServerCredentials:
 * createSsl($pem_root_certs, $pem_private_key, $pem_cert_chain) with optional client
 * certificate checking (mutual TLS), or createInsecure().
 */
final class ServerCredentials
{
    /** @var mixed the polyrpc_server_credentials_t handle */
    private $handle;

    private function __construct($handle)
    {
        $this->handle = $handle;
    }

    public static function createInsecure(): self
    {
        return new self(polyrpc_server_credentials_create_insecure());
    }

    /**
     * $pem_root_certs: CA certificates that client certificates are checked against (or null);
     * $require_client_cert: refuse clients without a valid one (mutual TLS; needs the roots).
     */
    public static function createSsl(?string $pem_root_certs, string $pem_private_key, string $pem_cert_chain,
                                     bool $require_client_cert = false): self
    {
        try {
            return new self(polyrpc_server_credentials_create_tls($pem_cert_chain, $pem_private_key,
                                                                 $pem_root_certs, $require_client_cert ? 1 : 0));
        } catch (Native\Error $e) {
            throw new \InvalidArgumentException('TLS server credentials: ' . $e->getMessage(), 0, $e);
        }
    }

    /** @internal */
    public function handle()
    {
        return $this->handle;
    }

    public function __destruct()
    {
        polyrpc_server_credentials_destroy($this->handle);
    }
}
