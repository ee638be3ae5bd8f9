<?php
// The classes protoc-gen-polyrpc (lang=php) generates, as PHP sees them: clients on
// PolyRPC\BaseStub with the right call kinds, service interfaces whose METHODS the server
// serves, UNIMPLEMENTED stubs, keyword names. (Byte-for-byte output: codegen_golden.) The
// end-to-end part, generated client against a server implementing the generated interface,
// is ClientTest's; here the mapping itself.

use PHPUnit\Framework\TestCase;
use Polyrpc\Test\Routes\V1 as R;

final class CodegenTest extends TestCase
{
    public function testClientShape(): void
    {
        $rc = new ReflectionClass(R\RouteGuideClient::class);
        $this->assertSame(PolyRPC\BaseStub::class, $rc->getParentClass()->getName());
        $kinds = [
            'GetFeature' => PolyRPC\UnaryCall::class,
            'ListFeatures' => PolyRPC\ServerStreamingCall::class,
            'RecordRoute' => PolyRPC\ClientStreamingCall::class,
            'RouteChat' => PolyRPC\BidiStreamingCall::class,
            'Ping' => PolyRPC\UnaryCall::class,
            'Describe' => PolyRPC\UnaryCall::class,
        ];
        foreach ($kinds as $method => $call) {
            $m = $rc->getMethod($method);
            $this->assertSame($call, $m->getReturnType()->getName(), $method);
        }
        $this->assertSame(Polyrpc\Test\Common\Point::class,
                          $rc->getMethod('GetFeature')->getParameters()[0]->getType()->getName());
        $this->assertSame(Polyrpc\Test\Common\Feature\Tag::class,
                          $rc->getMethod('Describe')->getParameters()[0]->getType()->getName(), 'nested types');
        $this->assertSame(Google\Protobuf\GPBEmpty::class,
                          $rc->getMethod('Ping')->getParameters()[0]->getType()->getName(), 'well-known types');
        $this->assertSame('metadata', $rc->getMethod('RecordRoute')->getParameters()[0]->getName());
        $this->assertStringContainsString('$dollar signs$', $rc->getDocComment(), 'comments survive');
    }

    public function testInterfaceMethods(): void
    {
        $methods = R\RouteGuideInterface::METHODS;
        $this->assertSame('polyrpc.test.routes.v1.RouteGuide', R\RouteGuideInterface::SERVICE_NAME);
        $this->assertSame(['/polyrpc.test.routes.v1.RouteGuide/ListFeatures', PolyRPC\MethodDescriptor::SERVER_STREAMING_CALL,
                           R\Rectangle::class], $methods['ListFeatures']);
        $this->assertSame(PolyRPC\MethodDescriptor::CLIENT_STREAMING_CALL, $methods['RecordRoute'][1]);
        $this->assertSame(PolyRPC\MethodDescriptor::BIDI_STREAMING_CALL, $methods['RouteChat'][1]);
        $this->assertSame(Polyrpc\Test\Common\Feature\Tag::class, $methods['Describe'][2]);
        foreach ($methods as $name => [$path, , $request]) {
            $this->assertTrue(class_exists($request), "$name: request class $request exists");
            $this->assertTrue(method_exists(R\RouteGuideInterface::class, $name));
        }
        $this->assertTrue(is_subclass_of(R\RouteGuideStub::class, R\RouteGuideInterface::class));
        $server = new PolyRPC\Server(['handle_signals' => false]);
        $paths = $server->handle(new R\RouteGuideStub());
        $this->assertSame(array_column($methods, 0), array_keys($paths));
        $server->shutdown();
    }

    public function testStubAnswersUnimplemented(): void
    {
        $ctx = (new ReflectionClass(PolyRPC\ServerContext::class))->newInstanceWithoutConstructor();
        $this->assertNull((new R\RouteGuideStub())->GetFeature(new Polyrpc\Test\Common\Point(), $ctx));
        $this->assertSame(PolyRPC\STATUS_UNIMPLEMENTED, $ctx->status()->code);
    }

    public function testKeywordNames(): void
    {
        // service class { rpc delete(del) returns (delete); rpc import ...; rpc namespace ... }
        $rc = new ReflectionClass(classClient::class);
        foreach (['delete', 'import', 'namespace', 'lambda', 'def', 'Register'] as $m) {
            $this->assertTrue($rc->hasMethod($m), $m);
        }
        $this->assertSame('/class/namespace', classInterface::METHODS['namespace'][0]);
        $this->assertSame(del::class, classInterface::METHODS['delete'][2]);
    }

    public function testGrpcTestingNames(): void
    {
        // protoc's PHP classes for reserved names: Empty is PBEmpty.
        $this->assertSame(Grpc\Testing\PBEmpty::class, Grpc\Testing\TestServiceInterface::METHODS['EmptyCall'][2]);
        $this->assertTrue(method_exists(Grpc\Testing\TestServiceClient::class, 'UnimplementedCall'));
    }

    /**
     * The client classes match grpc_php_plugin's (Debian protobuf-compiler-grpc) for the same
     * protos: the same files, classes, methods, call helpers, paths, argument and response
     * classes, so code written against grpc's generated clients ports by changing the base.
     */
    public function testClientsMatchGrpcPhpPlugin(): void
    {
        $plugin = '/usr/bin/grpc_php_plugin';
        $this->assertFileExists($plugin, 'grpc_php_plugin (apt install protobuf-compiler-grpc)');
        $dir = sys_get_temp_dir() . '/polyrpc-grpc-php-' . getmypid();
        @mkdir($dir);
        // grpc_php_plugin aborts on a '$' in a comment (its printer reads it as a variable), so it
        // gets route_guide.proto without that comment; polyrpc's own output is the build tree's.
        $protos = "$dir/protos";
        @mkdir("$protos/cgtest/routes", 0777, true);
        @mkdir("$protos/cgtest/common", 0777, true);
        $src = POLYRPC_ROOT . '/codegen/tests/protos';
        copy("$src/cgtest/common/types.proto", "$protos/cgtest/common/types.proto");
        file_put_contents("$protos/cgtest/routes/route_guide.proto",
                          str_replace('$dollar signs$', 'dollar signs', file_get_contents("$src/cgtest/routes/route_guide.proto")));
        copy("$src/keywords.proto", "$protos/keywords.proto");
        foreach ([['/usr/share/grpc-proto', 'grpc/testing/test.proto'], [$protos, 'cgtest/routes/route_guide.proto'],
                  [$protos, 'keywords.proto']] as [$root, $proto]) {
            exec(sprintf('protoc -I%s --plugin=protoc-gen-grpc=%s --grpc_out=%s %s 2>&1', escapeshellarg($root),
                         $plugin, escapeshellarg("$dir/out"), escapeshellarg($proto)), $out, $rc);
            @mkdir("$dir/out");
            if ($rc !== 0) {
                exec(sprintf('protoc -I%s --plugin=protoc-gen-grpc=%s --grpc_out=%s %s 2>&1', escapeshellarg($root),
                             $plugin, escapeshellarg("$dir/out"), escapeshellarg($proto)), $out, $rc);
            }
            $this->assertSame(0, $rc, implode("\n", $out));
        }
        $theirs = [];
        $it = new RecursiveIteratorIterator(new RecursiveDirectoryIterator("$dir/out", FilesystemIterator::SKIP_DOTS));
        foreach ($it as $f) {
            $theirs[substr($f->getPathname(), strlen("$dir/out/"))] = file_get_contents($f->getPathname());
        }
        $this->assertGreaterThanOrEqual(9, count($theirs));
        $norm = fn(string $c) => ltrim(str_replace('\\\\', '\\', $c), '\\');
        foreach ($theirs as $file => $text) {
            $mine = @file_get_contents(POLYRPC_BUILD . "/bindings/php/gen/$file");
            $this->assertIsString($mine, "polyrpc generates $file too");
            preg_match_all('/public function (\w+)\(([^)]*)\)\s*\{\s*return \$this->(_\w+)\(\'([^\']+)\',(?:\s*\$argument,)?\s*\[\'([^\']+)\',\s*\'decode\'\]/',
                           $text, $g, PREG_SET_ORDER);
            preg_match_all('/public function (\w+)\(([^)]*)\): \\\\PolyRPC\\\\\w+\s*\{\s*return \$this->(_\w+)\(\'([^\']+)\',(?:\s*\$argument,)?\s*\[([^,]+)::class, \'decode\'\]/',
                           $mine, $p, PREG_SET_ORDER);
            $shape = function (array $m) use ($norm) {
                $arg = preg_match('/^\s*(\\\\?[\w\\\\]+) \$argument/', $m[2], $a) ? $norm($a[1]) : '';
                // PHP class names are case-insensitive; grpc_php_plugin capitalizes the message
                // names of a file without a package ("\\Del" for protoc's class "del", which an
                // autoloader finds only as del.php): polyrpc writes protoc's spelling.
                return [$m[1], $m[3], $m[4], strtolower($arg), strtolower($norm($m[5]))];
            };
            $this->assertNotEmpty($g, "$file: grpc's methods parsed");
            $this->assertSame(array_map($shape, $g), array_map($shape, $p), "$file: methods as grpc_php_plugin's");
            preg_match('/^class (\w+) extends/m', $text, $gc);
            preg_match('/^class (\w+) extends/m', $mine, $pc);
            $this->assertSame($gc[1], $pc[1], "$file: class name");
        }
        exec('rm -rf ' . escapeshellarg($dir));
    }
}
