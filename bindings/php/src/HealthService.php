<?php

namespace PolyRPC;

/**
 * The health statuses of a server, from Server::enableHealth(): the core serves
 * grpc.health.v1.Health (Check and Watch) itself, and set() changes a status at any time, from a
 * handler too (every Watch of that service hears it at once). The server as a whole is "": it
 * starts SERVING; other services have no status (Check answers NOT_FOUND) until set. When the
 * server stops, every status turns NOT_SERVING and later changes are ignored.
 */
final class HealthService
{
    /** grpc.health.v1.HealthCheckResponse.ServingStatus (Grpc\Health\V1\HealthCheckResponse\ServingStatus). */
    public const UNKNOWN = 0;
    public const SERVING = 1;
    public const NOT_SERVING = 2;
    public const SERVICE_UNKNOWN = 3;
    private const NAMES = ['UNKNOWN' => 0, 'SERVING' => 1, 'NOT_SERVING' => 2, 'SERVICE_UNKNOWN' => 3];

    /** @var mixed polyrpc_server_t */
    private $server;

    /** @internal made by Server::enableHealth() */
    public function __construct($server)
    {
        $this->server = $server;
    }

    /** Sets $service's status ("" for the whole server): one of the constants, or its name. */
    public function set(string $service, int|string $status): void
    {
        if (is_string($status)) {
            if (!isset(self::NAMES[$status])) {
                throw new \InvalidArgumentException("unknown serving status '$status'");
            }
            $status = self::NAMES[$status];
        }
        if (!in_array($status, self::NAMES, true)) {
            throw new \InvalidArgumentException("unknown serving status $status");
        }
        polyrpc_server_set_health_status($this->server, $service, $status);
    }

    /** Forgets $service: Check answers NOT_FOUND, Watch reports SERVICE_UNKNOWN. */
    public function clear(string $service): void
    {
        $this->set($service, self::SERVICE_UNKNOWN);
    }
}
