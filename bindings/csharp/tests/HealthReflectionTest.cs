// Server.EnableHealth and Server.EnableReflection: health Check and Watch through the C# client
// (byte[] marshallers, hand-encoded grpc.health.v1 messages), and reflection through
// DescriptorPool.AddFromReflection (the library's reflection client) followed by a JSON call.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using PolyRpc.Core;
using PolyRpc.Core.Dynamic;

namespace PolyRpc.Tests
{
    [TestFixture, Timeout(60000)]
    public class HealthReflectionTest
    {
        static readonly Marshaller<byte[]> B = Marshallers.Create<byte[]>(b => b, b => b);
        static readonly Method<byte[], byte[]> Check = new Method<byte[], byte[]>(MethodType.Unary, "grpc.health.v1.Health", "Check", B, B);
        static readonly Method<byte[], byte[]> Watch = new Method<byte[], byte[]>(MethodType.ServerStreaming, "grpc.health.v1.Health", "Watch", B, B);

        static byte[] Request(string service)
        {
            var name = System.Text.Encoding.UTF8.GetBytes(service);
            if (name.Length == 0) return new byte[0];
            return new byte[] { 0x0a, (byte)name.Length }.Concat(name).ToArray();
        }

        static int StatusOf(byte[] response) { return response.Length == 0 ? 0 : response[1]; }

        static byte[] Fds() { return File.ReadAllBytes(Path.Combine(TestEnv.BinDir, "..", "grpc_testing.fds")); }

        [Test]
        public void CheckAndSet()
        {
            var server = new Server();
            server.Services.Add(Svc.Definition());
            var health = server.EnableHealth();
            Assert.AreSame(health, server.EnableHealth());
            int port = server.Ports.Add("127.0.0.1", ServerPort.PickUnused, ServerCredentials.Insecure);
            server.Start();
            var channel = new Channel("127.0.0.1:" + port, ChannelCredentials.Insecure);
            try
            {
                var invoker = channel.CreateCallInvoker();
                Assert.AreEqual((int)HealthStatus.Serving, StatusOf(invoker.BlockingUnaryCall(Check, null, new CallOptions(), Request(""))));
                var e = Assert.Throws<RpcException>(() => invoker.BlockingUnaryCall(Check, null, new CallOptions(), Request(Svc.Name)));
                Assert.AreEqual(StatusCode.NotFound, e.StatusCode);
                health.Set(Svc.Name, HealthStatus.NotServing);
                Assert.AreEqual((int)HealthStatus.NotServing, StatusOf(invoker.BlockingUnaryCall(Check, null, new CallOptions(), Request(Svc.Name))));
                health.Clear(Svc.Name);
                Assert.Throws<RpcException>(() => invoker.BlockingUnaryCall(Check, null, new CallOptions(), Request(Svc.Name)));
                Assert.Throws<ArgumentOutOfRangeException>(() => health.Set("x", (HealthStatus)9));
                Assert.Throws<InvalidOperationException>(() => server.EnableHealth());
                Assert.Throws<InvalidOperationException>(() => server.EnableReflection());
            }
            finally
            {
                channel.ShutdownAsync().Wait(5000);
                server.KillAsync().Wait(5000);
            }
        }

        [Test]
        public async Task WatchSeesChangesAndTheShutdown()
        {
            var server = new Server();
            server.Services.Add(Svc.Definition());
            var health = server.EnableHealth();
            health.Set("svc", HealthStatus.Serving);
            int port = server.Ports.Add("127.0.0.1", ServerPort.PickUnused, ServerCredentials.Insecure);
            server.Start();
            var channel = new Channel("127.0.0.1:" + port, ChannelCredentials.Insecure);
            try
            {
                var call = channel.CreateCallInvoker().AsyncServerStreamingCall(Watch, null,
                    new CallOptions(deadline: DateTime.UtcNow.AddSeconds(20)), Request("svc"));
                var stream = call.ResponseStream;
                Assert.IsTrue(await stream.MoveNext(CancellationToken.None));
                Assert.AreEqual((int)HealthStatus.Serving, StatusOf(stream.Current));
                health.Set("svc", HealthStatus.NotServing);
                Assert.IsTrue(await stream.MoveNext(CancellationToken.None));
                Assert.AreEqual((int)HealthStatus.NotServing, StatusOf(stream.Current));
                health.Set("svc", HealthStatus.Serving);
                Assert.IsTrue(await stream.MoveNext(CancellationToken.None));
                Assert.AreEqual((int)HealthStatus.Serving, StatusOf(stream.Current));
                var shutdown = server.ShutdownAsync();
                Assert.IsTrue(await stream.MoveNext(CancellationToken.None));
                Assert.AreEqual((int)HealthStatus.NotServing, StatusOf(stream.Current));
                var e = Async.Throws<RpcException>(() => stream.MoveNext());
                Assert.AreEqual(StatusCode.Unavailable, e.StatusCode);
                Assert.IsTrue(shutdown.Wait(5000), "the watch does not hold the shutdown up");
            }
            finally
            {
                channel.ShutdownAsync().Wait(5000);
                server.KillAsync().Wait(5000);
            }
        }

        [Test]
        public void ReflectionDescribesThePool()
        {
            var server = new Server();
            server.Services.Add(Svc.Definition());
            server.EnableHealth();
            using (var pool = DescriptorPool.FromFileDescriptorSet(Fds()))
            {
                server.EnableReflection(pool);
            }
            int port = server.Ports.Add("127.0.0.1", ServerPort.PickUnused, ServerCredentials.Insecure);
            server.Start();
            var channel = new Channel("127.0.0.1:" + port, ChannelCredentials.Insecure);
            try
            {
                using (var fetched = new DescriptorPool())
                {
                    // polyrpc.test.Echo is listed but has no descriptor (the library's client
                    // refuses a listing it cannot describe whole): ask by symbol.
                    var e = Assert.Throws<KeyNotFoundException>(() => fetched.AddFromReflection(channel, null, null, TimeSpan.FromSeconds(5)));
                    StringAssert.Contains("polyrpc.test.Echo", e.Message);
                    fetched.AddFromReflection(channel, "grpc.testing.TestService", null, TimeSpan.FromSeconds(5));
                    fetched.AddFromReflection(channel, "grpc.health.v1.Health", null, TimeSpan.FromSeconds(5));
                    fetched.AddFromReflection(channel, "grpc.reflection.v1alpha.ServerReflection", null, TimeSpan.FromSeconds(5));
                    CollectionAssert.Contains(fetched.Services, "grpc.testing.TestService");
                    CollectionAssert.Contains(fetched.Services, "grpc.health.v1.Health");
                    CollectionAssert.Contains(fetched.Services, "grpc.reflection.v1alpha.ServerReflection");
                    Assert.AreEqual(MethodType.DuplexStreaming, fetched.FindMethod("grpc.testing.TestService/FullDuplexCall").Type);
                    Assert.AreEqual(MethodType.ServerStreaming, fetched.FindMethod("grpc.health.v1.Health/Watch").Type);
                }
            }
            finally
            {
                channel.ShutdownAsync().Wait(5000);
                server.KillAsync().Wait(5000);
            }
        }
    }
}
