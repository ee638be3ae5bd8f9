// Bad input gets .NET's exceptions with clear messages: never a crash, a hang or a leak.
using System;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using PolyRpc.Core;

namespace PolyRpc.Tests
{
    [TestFixture, Timeout(60000)]
    public class BadInputTest
    {
        Loopback lo;

        [TestFixtureSetUp]
        public void SetUp() { lo = new Loopback(); }

        [TestFixtureTearDown]
        public void TearDown() { lo.Dispose(); }

        [Test]
        public void NullArguments()
        {
            Assert.Throws<ArgumentNullException>(() => new Channel(null, ChannelCredentials.Insecure));
            Assert.Throws<ArgumentNullException>(() => new Channel("127.0.0.1:1", null));
            Assert.Throws<ArgumentNullException>(() => lo.Invoker.BlockingUnaryCall<string, string>(null, null, new CallOptions(), "x"));
            Assert.Throws<ArgumentNullException>(() => lo.Invoker.BlockingUnaryCall(Svc.Echo, null, new CallOptions(), null));
            Assert.Throws<ArgumentNullException>(() => lo.Invoker.AsyncUnaryCall(Svc.Echo, null, new CallOptions(), null));
            Assert.Throws<ArgumentNullException>(() => lo.Invoker.AsyncServerStreamingCall(Svc.Count, null, new CallOptions(), null));
            Assert.Throws<ArgumentNullException>(() => new Marshaller<string>(null, b => ""));
            Assert.Throws<ArgumentNullException>(() => new Method<string, string>(MethodType.Unary, "s", "m", null, Marshallers.StringMarshaller));
            Assert.Throws<ArgumentNullException>(() => new DefaultCallInvoker(null));
            Assert.Throws<ArgumentNullException>(() => ServerServiceDefinition.CreateBuilder().AddMethod(Svc.Echo, (UnaryServerMethod<string, string>)null));
            Assert.Throws<ArgumentNullException>(() => new Server().Services.Add(null));
            using (var call = lo.Invoker.AsyncDuplexStreamingCall(Svc.Chat, null, new CallOptions()))
            {
                Assert.Throws<ArgumentNullException>(() => call.RequestStream.WriteAsync(null));
            }
        }

        [Test]
        public void BadTarget()
        {
            var e = Assert.Throws<ArgumentException>(() => new Channel("", ChannelCredentials.Insecure));
            StringAssert.Contains("cannot create a channel", e.Message);
        }

        [Test]
        public void BadMetadata()
        {
            var md = new Metadata();
            Assert.Throws<ArgumentException>(() => md.Add("bad key", "v"));
            Assert.Throws<ArgumentException>(() => md.Add("", "v"));
            Assert.Throws<ArgumentException>(() => md.Add("k", "non-ascii é"));
            Assert.Throws<ArgumentException>(() => md.Add("k", "new\nline"));
            Assert.Throws<ArgumentException>(() => md.Add("k", new byte[] { 1 }));
            Assert.Throws<ArgumentException>(() => md.Add("k-bin", "text"));
            Assert.Throws<ArgumentNullException>(() => md.Add("k", (string)null));
            Assert.Throws<InvalidOperationException>(() => Metadata.Empty.Add("k", "v"));
            // Upper case is lowered, as in Grpc.Core.
            md.Add("X-Mixed", "v");
            Assert.AreEqual("x-mixed", md[0].Key);
            Assert.Throws<InvalidOperationException>(() => { var unused = new Metadata.Entry("k-bin", new byte[0]).Value; });
        }

        [Test]
        public void ReservedHeaderIsRefused()
        {
            var md = new Metadata { { "content-type", "text/plain" } };
            var e = Assert.Throws<ArgumentException>(() => lo.Invoker.BlockingUnaryCall(Svc.Echo, null, new CallOptions(headers: md), "x"));
            StringAssert.Contains("content-type", e.Message);
            Assert.Throws<ArgumentException>(() => lo.Invoker.AsyncUnaryCall(Svc.Echo, null, new CallOptions(headers: md), "x"));
            // The channel is fine afterwards.
            Assert.AreEqual("ok", lo.Invoker.BlockingUnaryCall(Svc.Echo, null, new CallOptions(), "ok"));
        }

        [Test]
        public void BadChannelOption()
        {
            var e = Assert.Throws<ArgumentException>(() => new Channel("127.0.0.1:1", ChannelCredentials.Insecure,
                new[] { new ChannelOption("grpc.default_compression_algorithm", "bogus") }));
            StringAssert.Contains("compression algorithm \"bogus\"", e.Message);
            Assert.Throws<ArgumentNullException>(() => new ChannelOption(null, 1));
        }

        [Test]
        public void BadCompressionName()
        {
            var md = new Metadata { { "grpc-internal-encoding-request", "lz4" } };
            Assert.Throws<ArgumentException>(() => lo.Invoker.BlockingUnaryCall(Svc.Echo, null, new CallOptions(headers: md), "x"));
        }

        [Test]
        public void SerializerErrors()
        {
            var throwing = new Marshaller<string>(s => { throw new FormatException("cannot serialize"); }, b => "");
            var m = new Method<string, string>(MethodType.Unary, Svc.Name, "Echo", throwing, Marshallers.StringMarshaller);
            Assert.Throws<FormatException>(() => lo.Invoker.BlockingUnaryCall(m, null, new CallOptions(), "x"));
            var badReply = new Marshaller<string>(Marshallers.StringMarshaller.Serializer, b => { throw new FormatException("garbage"); });
            var m2 = new Method<string, string>(MethodType.Unary, Svc.Name, "Echo", Marshallers.StringMarshaller, badReply);
            var e = Assert.Throws<RpcException>(() => lo.Invoker.BlockingUnaryCall(m2, null, new CallOptions(), "x"));
            Assert.AreEqual(StatusCode.Internal, e.StatusCode);
            Assert.IsInstanceOf<FormatException>(e.Status.DebugException);
            var e2 = Async.Throws<RpcException>(() => lo.Invoker.AsyncUnaryCall(m2, null, new CallOptions(), "x").ResponseAsync);
            Assert.AreEqual(StatusCode.Internal, e2.StatusCode);
            var m3 = new Method<string, string>(MethodType.ServerStreaming, Svc.Name, "Count", Marshallers.StringMarshaller, badReply);
            using (var call = lo.Invoker.AsyncServerStreamingCall(m3, null, new CallOptions(), "2"))
            {
                var e3 = Async.Throws<RpcException>(() => call.ResponseStream.MoveNext());
                Assert.AreEqual(StatusCode.Internal, e3.StatusCode);
            }
        }

        [Test]
        public void ServerSideBadRequestAndNullResponse()
        {
            var picky = new Marshaller<string>(Marshallers.StringMarshaller.Serializer,
                                               b => { if (b.Length == 0) throw new FormatException("empty"); return "ok"; });
            var m = new Method<string, string>(MethodType.Unary, "polyrpc.test.Picky", "M", picky, Marshallers.StringMarshaller);
            var n = new Method<string, string>(MethodType.Unary, "polyrpc.test.Picky", "Null", Marshallers.StringMarshaller, Marshallers.StringMarshaller);
            var svc = ServerServiceDefinition.CreateBuilder()
                .AddMethod(m, (string r, ServerCallContext c) => Task.FromResult(r))
                .AddMethod(n, (string r, ServerCallContext c) => Task.FromResult<string>(null)).Build();
            using (var other = new Loopback(svc))
            {
                var e = Assert.Throws<RpcException>(() => other.Invoker.BlockingUnaryCall(m, null, new CallOptions(), ""));
                Assert.AreEqual(StatusCode.Internal, e.StatusCode);
                Assert.AreEqual("ok", other.Invoker.BlockingUnaryCall(m, null, new CallOptions(), "x"));
                var e2 = Assert.Throws<RpcException>(() => other.Invoker.BlockingUnaryCall(n, null, new CallOptions(), "x"));
                Assert.AreEqual(StatusCode.Internal, e2.StatusCode);
            }
        }

        [Test]
        public void ServerMisuse()
        {
            var server = new Server();
            var svc = Svc.Definition();
            server.Services.Add(svc);
            Assert.Throws<ArgumentException>(() => server.Services.Add(svc));
            Assert.Throws<InvalidOperationException>(() => server.Ports.Add("no-such-host.invalid", 0, ServerCredentials.Insecure));
            int port = server.Ports.Add("127.0.0.1", 0, ServerCredentials.Insecure);
            // The same port again is taken.
            var other = new Server();
            Assert.Throws<InvalidOperationException>(() => other.Ports.Add("127.0.0.1", port, ServerCredentials.Insecure));
            other.KillAsync().Wait(5000);
            server.Start();
            Assert.Throws<InvalidOperationException>(() => server.Start());
            Assert.Throws<InvalidOperationException>(() => server.Ports.Add("127.0.0.1", 0, ServerCredentials.Insecure));
            Assert.Throws<InvalidOperationException>(() => server.Services.Add(ServerServiceDefinition.CreateBuilder().Build()));
            Assert.Throws<ArgumentException>(() => new SslServerCredentials(new KeyCertificatePair[0]));
            Assert.IsTrue(server.ShutdownAsync().Wait(5000));
            Assert.IsTrue(server.ShutdownTask.IsCompleted);
        }

        [Test]
        public void ShutDownChannel()
        {
            var ch = new Channel("127.0.0.1:" + lo.Port, ChannelCredentials.Insecure);
            var inv = ch.CreateCallInvoker();
            Assert.AreEqual("x", inv.BlockingUnaryCall(Svc.Echo, null, new CallOptions(), "x"));
            Assert.IsTrue(ch.ShutdownAsync().Wait(5000));
            Assert.Throws<ObjectDisposedException>(() => inv.BlockingUnaryCall(Svc.Echo, null, new CallOptions(), "x"));
            Assert.Throws<ObjectDisposedException>(() => inv.AsyncUnaryCall(Svc.Echo, null, new CallOptions(), "x"));
            Assert.AreEqual(ChannelState.Shutdown, ch.State);
            Assert.IsTrue(ch.ShutdownAsync().Wait(5000), "a second shutdown is harmless");
        }

        [Test]
        public void BadAccessToken()
        {
            Assert.Throws<ArgumentException>(() => CallCredentials.FromAccessToken("line\nbreak"));
            Assert.Throws<ArgumentException>(() => CallCredentials.Compose());
        }
    }
}
