<?php

namespace PolyRPC\Internal;

/**
 * Metadata between PHP arrays and the C ABI's lists. The PHP form is grpc's:
 * ['key' => ['value', ...], ...]; a single string value is accepted for a key too. Keys are
 * lower-cased (as grpc does); keys ending in "-bin" carry any bytes, others printable ASCII.
 * Values cross as they are: no base64 (the library encodes "-bin" values on the wire).
 *
 * @internal
 */
final class Metadata
{
    /**
     * A new native list for $metadata, owned by the caller (polyrpc_metadata_destroy), or null
     * when $metadata is empty.
     *
     * @param array<string, list<string>|string> $metadata
     * @return mixed a polyrpc_metadata_t handle or null
     */
    public static function toNative(array $metadata)
    {
        if (!$metadata) {
            return null;
        }
        $md = polyrpc_metadata_create();
        try {
            foreach ($metadata as $key => $values) {
                if (!is_string($key)) {
                    throw new \InvalidArgumentException("metadata keys are strings, not the integer $key");
                }
                $lkey = strtolower($key);
                if (is_string($values)) {
                    $values = [$values];
                } elseif (!is_array($values)) {
                    throw new \TypeError("metadata values of '$key' must be an array of strings or a string, not "
                        . get_debug_type($values));
                }
                foreach ($values as $value) {
                    if (!is_string($value)) {
                        throw new \TypeError("a metadata value of '$key' must be a string, not " . get_debug_type($value));
                    }
                    try {
                        polyrpc_metadata_add($md, $lkey, $value);
                    } catch (\PolyRPC\Native\Error $e) {
                        throw new \InvalidArgumentException("metadata '$key': " . $e->getMessage(), 0, $e);
                    }
                }
            }
        } catch (\Throwable $e) {
            polyrpc_metadata_destroy($md);
            throw $e;
        }
        return $md;
    }

    /**
     * The PHP form of a native list (borrowed; not destroyed).
     *
     * @return array<string, list<string>>
     */
    public static function fromNative($md): array
    {
        $out = [];
        $n = polyrpc_metadata_count($md);
        for ($i = 0; $i < $n; $i++) {
            [$key, $value] = polyrpc_metadata_get($md, $i);
            $out[$key][] = $value;
        }
        return $out;
    }

    /**
     * Merges metadata arrays (later values appended after earlier ones under the same key).
     *
     * @param array<string, list<string>|string> $a
     * @param array<string, list<string>|string> $b
     * @return array<string, list<string>|string>
     */
    public static function merge(array $a, array $b): array
    {
        foreach ($b as $key => $values) {
            $key = is_string($key) ? strtolower($key) : $key;
            if (!isset($a[$key])) {
                $a[$key] = $values;
                continue;
            }
            $a[$key] = array_merge((array)$a[$key], (array)$values);
        }
        return $a;
    }
}
