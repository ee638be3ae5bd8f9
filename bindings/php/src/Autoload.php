<?php

namespace PolyRPC;

/**
 * A small class loader for use without Composer: the PolyRPC library itself (autoload.php),
 * Google\Protobuf from the include path, and folders of generated code (protoc --php_out and
 * protoc-gen-polyrpc write Foo\Bar\Baz to Foo/Bar/Baz.php under the output folder).
 */
final class Autoload
{
    /** @var array<string, list<string>> namespace prefix => folders */
    private static array $prefixes = [];
    /** @var list<string> folders searched for any class */
    private static array $roots = [];
    /** @var list<string> namespace prefixes looked up on the include path */
    private static array $includePrefixes = [];
    private static bool $registered = false;

    /** Classes of the namespace $prefix (ending in \) live under $dir (PSR-4). */
    public static function addNamespace(string $prefix, string $dir): void
    {
        self::$prefixes[$prefix][] = rtrim($dir, '/');
        self::register();
    }

    /** Any class may live under $dir, in folders named after its namespace (protoc's layout). */
    public static function addDirectory(string $dir): void
    {
        self::$roots[] = rtrim($dir, '/');
        self::register();
    }

    /** Classes of the namespace $prefix are looked up on PHP's include path. */
    public static function addIncludePath(string $prefix): void
    {
        self::$includePrefixes[] = $prefix;
        self::register();
    }

    private static function register(): void
    {
        if (!self::$registered) {
            self::$registered = true;
            spl_autoload_register([self::class, 'load']);
        }
    }

    /** @internal the spl_autoload_register callback */
    public static function load(string $class): void
    {
        foreach (self::$prefixes as $prefix => $dirs) {
            if (strncmp($class, $prefix, strlen($prefix)) === 0) {
                $rel = str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
                foreach ($dirs as $dir) {
                    if (is_file($dir . '/' . $rel)) {
                        require $dir . '/' . $rel;
                        return;
                    }
                }
            }
        }
        $rel = str_replace('\\', '/', $class) . '.php';
        foreach (self::$roots as $dir) {
            if (is_file($dir . '/' . $rel)) {
                require $dir . '/' . $rel;
                return;
            }
        }
        foreach (self::$includePrefixes as $prefix) {
            if (strncmp($class, $prefix, strlen($prefix)) === 0) {
                $file = stream_resolve_include_path($rel);
                if ($file !== false) {
                    require $file;
                }
                return;
            }
        }
    }
}
