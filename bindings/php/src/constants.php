<?php
// The constants of the PolyRPC namespace, with the values and names of the grpc extension's
// Grpc\ constants (Grpc\STATUS_OK is PolyRPC\STATUS_OK). Loaded by autoload.php, and by
// Composer through the "files" entry of composer.json (constants cannot be autoloaded).

namespace PolyRPC;

const VERSION = '0.2.0';

// gRPC status codes.
const STATUS_OK = 0;
const STATUS_CANCELLED = 1;
const STATUS_UNKNOWN = 2;
const STATUS_INVALID_ARGUMENT = 3;
const STATUS_DEADLINE_EXCEEDED = 4;
const STATUS_NOT_FOUND = 5;
const STATUS_ALREADY_EXISTS = 6;
const STATUS_PERMISSION_DENIED = 7;
const STATUS_RESOURCE_EXHAUSTED = 8;
const STATUS_FAILED_PRECONDITION = 9;
const STATUS_ABORTED = 10;
const STATUS_OUT_OF_RANGE = 11;
const STATUS_UNIMPLEMENTED = 12;
const STATUS_INTERNAL = 13;
const STATUS_UNAVAILABLE = 14;
const STATUS_DATA_LOSS = 15;
const STATUS_UNAUTHENTICATED = 16;

// Connectivity states of a channel (CHANNEL_FATAL_FAILURE is grpc's name for SHUTDOWN).
const CHANNEL_IDLE = 0;
const CHANNEL_CONNECTING = 1;
const CHANNEL_READY = 2;
const CHANNEL_TRANSIENT_FAILURE = 3;
const CHANNEL_SHUTDOWN = 4;
const CHANNEL_FATAL_FAILURE = 4;

// Write flags ('flags' of write() options), grpc's values.
const WRITE_BUFFER_HINT = 1;
const WRITE_NO_COMPRESS = 2;
