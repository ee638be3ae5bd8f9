<?php
// What the PHP interop client and server share: the standard flags, the certificates, and the
// library with the generated grpc.testing classes (bindings/php/build.sh writes them to
// $POLYRPC_BUILD_DIR/bindings/php/gen). Run through bindings/php/php.sh, which loads the
// extension of the build tree.

require dirname(__DIR__, 2) . '/bindings/php/autoload.php';

function interop_build_dir(): string
{
    $b = getenv('POLYRPC_BUILD_DIR') ?: dirname(__DIR__, 2) . '/build';
    return $b[0] === '/' ? $b : dirname(__DIR__, 2) . '/' . $b;
}

\PolyRPC\Autoload::addDirectory(interop_build_dir() . '/bindings/php/gen');

/**
 * --name=value flags ("--flag" alone is true); $spec gives the names and defaults, whose types
 * the values take.
 *
 * @param array<string, mixed> $spec
 * @return array<string, mixed>
 */
function interop_flags(array $argv, array $spec): array
{
    $flags = $spec;
    foreach (array_slice($argv, 1) as $arg) {
        if (!preg_match('/^--([a-z_]+)(?:=(.*))?$/s', $arg, $m)) {
            fwrite(STDERR, "bad argument $arg\n");
            exit(2);
        }
        $name = $m[1];
        $value = $m[2] ?? 'true';
        if (!array_key_exists($name, $spec)) {
            continue; // other implementations' flags are ignored, as gRPC's programs do
        }
        if (is_bool($spec[$name])) {
            $flags[$name] = $value === 'true' || $value === '1';
        } elseif (is_int($spec[$name])) {
            $flags[$name] = (int)$value;
        } else {
            $flags[$name] = $value;
        }
    }
    return $flags;
}

function interop_default_cert_dir(): string
{
    return interop_build_dir() . '/certs';
}

function interop_read_cert(string $dir, string $name): string
{
    $data = @file_get_contents("$dir/$name");
    if ($data === false) {
        fwrite(STDERR, "cannot read $dir/$name\n");
        exit(1);
    }
    return $data;
}
