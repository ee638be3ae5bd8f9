// PolyRpc.Core.Dynamic: descriptor pools (a FileDescriptorSet made by protoc at build time, and
// gRPC server reflection against real gRPC C++), JSON transcoding and its errors, JSON methods.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using NUnit.Framework;
using PolyRpc.Core;
using PolyRpc.Core.Dynamic;
using Json = PolyRpc.Interop.Json;

namespace PolyRpc.Tests
{
    [TestFixture, Timeout(60000)]
    public class DynamicTest
    {
        static byte[] Fds() { return File.ReadAllBytes(Path.Combine(TestEnv.BinDir, "..", "grpc_testing.fds")); }

        [Test]
        public void PoolKnowsTheServices()
        {
            using (var pool = DescriptorPool.FromFileDescriptorSet(Fds()))
            {
                CollectionAssert.Contains(pool.Services, "grpc.testing.TestService");
                CollectionAssert.Contains(pool.GetMethods("grpc.testing.TestService"), "grpc.testing.TestService/FullDuplexCall");
                var m = pool.FindMethod("grpc.testing.TestService/StreamingInputCall");
                Assert.AreEqual(MethodType.ClientStreaming, m.Type);
                Assert.AreEqual("/grpc.testing.TestService/StreamingInputCall", m.FullName);
                Assert.AreEqual("grpc.testing.StreamingInputCallRequest", m.InputType);
                Assert.AreEqual("grpc.testing.StreamingInputCallResponse", m.OutputType);
                Assert.AreEqual("grpc.testing.TestService", m.ServiceName);
                Assert.AreEqual(MethodType.DuplexStreaming, pool.FindMethod("/grpc.testing.TestService/FullDuplexCall").Type);
                Assert.Throws<KeyNotFoundException>(() => pool.FindMethod("grpc.testing.TestService/Nope"));
                Assert.Throws<KeyNotFoundException>(() => pool.GetMethods("no.Such"));
            }
        }

        [Test]
        public void JsonTranscoding()
        {
            using (var pool = DescriptorPool.FromFileDescriptorSet(Fds()))
            {
                // SimpleRequest{response_size: 100, payload{body: "ab"}}, by hand: 10 64 1a 04 12 02 61 62.
                var bytes = pool.JsonToMessage("grpc.testing.SimpleRequest", "{\"responseSize\": 100, \"payload\": {\"body\": \"YWI=\"}}");
                CollectionAssert.AreEqual(new byte[] { 0x10, 0x64, 0x1a, 0x04, 0x12, 0x02, 0x61, 0x62 }, bytes);
                var json = pool.MessageToJson("grpc.testing.SimpleRequest", bytes);
                Assert.AreEqual(100L, Json.Int(Json.Parse(json), "responseSize"));
                Assert.AreEqual("YWI=", Json.Str(Json.Parse(json), "payload", "body"));
                StringAssert.Contains("\"response_size\"", pool.MessageToJson("grpc.testing.SimpleRequest", bytes, JsonOptions.ProtoNames));
                StringAssert.Contains("\"fillUsername\": false", pool.MessageToJson("grpc.testing.SimpleRequest", bytes, JsonOptions.EmitDefaults | JsonOptions.Pretty));
                // proto names are accepted on input too; unknown fields only when asked.
                CollectionAssert.AreEqual(new byte[] { 0x10, 0x05 }, pool.JsonToMessage("grpc.testing.SimpleRequest", "{\"response_size\": 5}"));
                CollectionAssert.AreEqual(new byte[] { 0x10, 0x05 }, pool.JsonToMessage("grpc.testing.SimpleRequest",
                    "{\"response_size\": 5, \"nope\": 1}", JsonOptions.IgnoreUnknownFields));
            }
        }

        [Test]
        public void JsonErrorsSayWhy()
        {
            using (var pool = DescriptorPool.FromFileDescriptorSet(Fds()))
            {
                var e = Assert.Throws<ArgumentException>(() => pool.JsonToMessage("grpc.testing.SimpleRequest", "{\"responseSize\": \"abc\"}"));
                StringAssert.Contains("response_size", e.Message);
                e = Assert.Throws<ArgumentException>(() => pool.JsonToMessage("grpc.testing.SimpleRequest", "{\"nope\": 1}"));
                StringAssert.Contains("nope", e.Message);
                Assert.Throws<ArgumentException>(() => pool.JsonToMessage("grpc.testing.SimpleRequest", "{not json"));
                Assert.Throws<KeyNotFoundException>(() => pool.JsonToMessage("grpc.testing.Missing", "{}"));
                Assert.Throws<ArgumentException>(() => pool.MessageToJson("grpc.testing.SimpleRequest", new byte[] { 0xff, 0xff, 0xff }));
                Assert.Throws<ArgumentNullException>(() => pool.JsonToMessage("grpc.testing.SimpleRequest", null));
                var m = pool.JsonMarshaller("grpc.testing.SimpleRequest");
                Assert.Throws<ArgumentException>(() => m.Serializer("{\"responseSize\": []}"));
            }
        }

        [Test]
        public void BadFileSets()
        {
            Assert.Throws<ArgumentException>(() => DescriptorPool.FromFileDescriptorSet(new byte[] { 1, 2, 3, 4, 5 }));
            Assert.Throws<ArgumentNullException>(() => DescriptorPool.FromFileDescriptorSet(null));
            var pool = DescriptorPool.FromFileDescriptorSet(Fds());
            pool.AddFileDescriptorSet(Fds()); // the same files again are skipped
            pool.Dispose();
            Assert.Throws<ObjectDisposedException>(() => pool.FindMethod("grpc.testing.TestService/UnaryCall"));
        }

        [Test]
        public async Task JsonMethodsOnOurServer()
        {
            using (var pool = DescriptorPool.FromFileDescriptorSet(Fds()))
            {
                var unary = pool.JsonMethod("grpc.testing.TestService/UnaryCall");
                var stream = pool.JsonMethod("grpc.testing.TestService/StreamingOutputCall");
                Assert.AreEqual(MethodType.ServerStreaming, stream.Type);
                var svc = ServerServiceDefinition.CreateBuilder()
                    .AddMethod(unary, (string req, ServerCallContext ctx) =>
                    {
                        long n = Json.Int(Json.Parse(req), "responseSize");
                        return Task.FromResult("{\"payload\":{\"body\":\"" + Convert.ToBase64String(new byte[n]) + "\"}}");
                    }).Build();
                using (var lo = new Loopback(svc))
                {
                    var reply = await lo.Invoker.AsyncUnaryCall(unary, null, new CallOptions(), "{\"responseSize\": 12}");
                    Assert.AreEqual(16, Json.Str(Json.Parse(reply), "payload", "body").Length);
                    // The server has no reflection service.
                    using (var other = new DescriptorPool())
                    {
                        Assert.Throws<KeyNotFoundException>(() => other.AddFromReflection(lo.Channel, "grpc.testing.TestService",
                                                                                          timeout: TimeSpan.FromSeconds(5)));
                    }
                }
            }
        }

        [Test]
        public async Task ReflectionAgainstRealGrpc()
        {
            var exe = Path.Combine(TestEnv.BuildDir, "capi", "tests", "capi_dynamic_test_server");
            Assert.IsTrue(File.Exists(exe), "the grpc++ reflection server is missing: " + exe);
            // It serves until its stdin closes: a pipe this test holds.
            using (var p = Process.Start(new ProcessStartInfo(exe)
                   { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardInput = true }))
            {
                try
                {
                    var line = p.StandardOutput.ReadLineAsync();
                    Assert.IsTrue(line.Wait(10000), "the server did not say its port");
                    StringAssert.StartsWith("listening on port ", line.Result);
                    int port = int.Parse(line.Result.Substring("listening on port ".Length));
                    var channel = new Channel("127.0.0.1:" + port, ChannelCredentials.Insecure);
                    using (var pool = new DescriptorPool())
                    {
                        pool.AddFromReflection(channel, "grpc.testing.TestService", timeout: TimeSpan.FromSeconds(10));
                        CollectionAssert.Contains(pool.Services, "grpc.testing.TestService");
                        var unary = pool.JsonMethod("grpc.testing.TestService/UnaryCall", JsonOptions.EmitDefaults);
                        var inv = channel.CreateCallInvoker();
                        var reply = await inv.AsyncUnaryCall(unary, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10)),
                                                             "{\"responseSize\": 30}");
                        Assert.AreEqual(30, Convert.FromBase64String(Json.Str(Json.Parse(reply), "payload", "body")).Length);
                        var duplex = pool.JsonMethod("grpc.testing.TestService/FullDuplexCall");
                        using (var d = inv.AsyncDuplexStreamingCall(duplex, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10))))
                        {
                            await d.RequestStream.WriteAsync("{\"responseParameters\": [{\"size\": 3}, {\"size\": 4}]}");
                            await d.RequestStream.CompleteAsync();
                            var got = await d.ResponseStream.ToListAsync();
                            Assert.AreEqual(2, got.Count);
                        }
                        Assert.Throws<KeyNotFoundException>(() => pool.AddFromReflection(channel, "no.such.Service", timeout: TimeSpan.FromSeconds(10)));
                    }
                    await channel.ShutdownAsync();
                }
                finally
                {
                    p.StandardInput.Close();
                    if (!p.WaitForExit(5000)) p.Kill();
                    p.WaitForExit(5000);
                }
            }
        }
    }
}
