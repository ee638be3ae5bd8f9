<?php
// The PolyRPC library without Composer: require this file. With Composer, `composer require
// polyrpc/polyrpc` and vendor/autoload.php do the same (composer.json: PSR-4 "PolyRPC\\" =>
// src/, and src/constants.php). Also loads Google\Protobuf from PHP's include path, where
// Debian's php-google-protobuf puts it (/usr/share/php), since that package ships no autoloader.
//
// Generated code (protoc --php_out and the polyrpc plugin write one file per class, in folders
// named after the namespace) is found with \PolyRPC\Autoload::addDirectory($dir).

$polyrpcSrc = is_dir(__DIR__ . '/src') ? __DIR__ . '/src' : __DIR__;
require_once $polyrpcSrc . '/constants.php';
require_once $polyrpcSrc . '/Autoload.php';
\PolyRPC\Autoload::addNamespace('PolyRPC\\', $polyrpcSrc);
\PolyRPC\Autoload::addIncludePath('Google\\Protobuf\\');
\PolyRPC\Autoload::addIncludePath('GPBMetadata\\Google\\Protobuf\\');
unset($polyrpcSrc);
