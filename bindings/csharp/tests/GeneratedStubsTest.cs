// The lang=csharp stubs of grpc/testing/test.proto (protoc-gen-polyrpc, generated at build time
// with marshaller_factory=PolyRpc.Tests.JsonMessages) compiled into this assembly and used as
// protoc-gen-grpc-csharp's output is: TestService.TestServiceClient against a
// TestService.TestServiceBase of ours (BindService) and against real gRPC's C++ interop server.
// The message classes below stand in for Google.Protobuf's (not reachable here): each holds its
// proto3 JSON, transcoded to and from protobuf by a DescriptorPool.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using Grpc.Testing;
using NUnit.Framework;
using PolyRpc.Core;
using PolyRpc.Core.Dynamic;
using Json = PolyRpc.Interop.Json;
using Payloads = PolyRpc.Interop.Payloads;

namespace Grpc.Testing
{
    /// <summary>A message as its proto3 JSON text.</summary>
    public abstract class JsonMessage
    {
        public string Json = "{}";
        public object Parsed { get { return PolyRpc.Interop.Json.Parse(Json); } }
    }

    public sealed class Empty : JsonMessage { }
    public sealed class SimpleRequest : JsonMessage { }
    public sealed class SimpleResponse : JsonMessage { }
    public sealed class StreamingOutputCallRequest : JsonMessage { }
    public sealed class StreamingOutputCallResponse : JsonMessage { }
    public sealed class StreamingInputCallRequest : JsonMessage { }
    public sealed class StreamingInputCallResponse : JsonMessage { }
    public sealed class ReconnectParams : JsonMessage { }
    public sealed class ReconnectInfo : JsonMessage { }
    public sealed class LoadBalancerStatsRequest : JsonMessage { }
    public sealed class LoadBalancerStatsResponse : JsonMessage { }
    public sealed class LoadBalancerAccumulatedStatsRequest : JsonMessage { }
    public sealed class LoadBalancerAccumulatedStatsResponse : JsonMessage { }
    public sealed class ClientConfigureRequest : JsonMessage { }
    public sealed class ClientConfigureResponse : JsonMessage { }
}

namespace PolyRpc.Tests
{
    /// <summary>The marshaller factory the generated stubs call: Create&lt;T&gt;("grpc.testing.X").</summary>
    public static class JsonMessages
    {
        static readonly Lazy<DescriptorPool> pool = new Lazy<DescriptorPool>(() =>
            DescriptorPool.FromFileDescriptorSet(File.ReadAllBytes(Path.Combine(TestEnv.BinDir, "..", "grpc_testing.fds"))));

        internal static DescriptorPool Pool { get { return pool.Value; } }

        public static Marshaller<T> Create<T>(string protoName) where T : JsonMessage, new()
        {
            return Marshallers.Create<T>(m => Pool.JsonToMessage(protoName, m.Json),
                                         b => new T { Json = Pool.MessageToJson(protoName, b, JsonOptions.EmitDefaults) });
        }
    }

    /// <summary>A TestService implementation on the generated base class.</summary>
    sealed class JsonTestService : TestService.TestServiceBase
    {
        static string Payload(long n) { return "{\"payload\":" + Payloads.Zeros(n) + "}"; }

        public override Task<SimpleResponse> UnaryCall(SimpleRequest request, ServerCallContext context)
        {
            var code = Json.Int(request.Parsed, "responseStatus", "code");
            if (code != 0) throw new RpcException(new Status((StatusCode)code, Json.Str(request.Parsed, "responseStatus", "message")));
            return Task.FromResult(new SimpleResponse { Json = Payload(Json.Int(request.Parsed, "responseSize")) });
        }

        public override async Task StreamingOutputCall(StreamingOutputCallRequest request,
                                                       IServerStreamWriter<StreamingOutputCallResponse> responseStream,
                                                       ServerCallContext context)
        {
            foreach (var p in Json.List(request.Parsed, "responseParameters"))
                await responseStream.WriteAsync(new StreamingOutputCallResponse { Json = Payload(Json.Int(p, "size")) });
        }

        public override async Task<StreamingInputCallResponse> StreamingInputCall(IAsyncStreamReader<StreamingInputCallRequest> requestStream,
                                                                                  ServerCallContext context)
        {
            long total = 0;
            while (await requestStream.MoveNext(CancellationToken.None))
                total += Payloads.Base64Length(Json.Str(requestStream.Current.Parsed, "payload", "body"));
            return new StreamingInputCallResponse { Json = "{\"aggregatedPayloadSize\":" + total + "}" };
        }

        public override async Task FullDuplexCall(IAsyncStreamReader<StreamingOutputCallRequest> requestStream,
                                                  IServerStreamWriter<StreamingOutputCallResponse> responseStream,
                                                  ServerCallContext context)
        {
            while (await requestStream.MoveNext(CancellationToken.None))
                foreach (var p in Json.List(requestStream.Current.Parsed, "responseParameters"))
                    await responseStream.WriteAsync(new StreamingOutputCallResponse { Json = Payload(Json.Int(p, "size")) });
        }
    }

    [TestFixture, Timeout(60000)]
    public class GeneratedStubsTest
    {
        static long PayloadSize(JsonMessage m)
        {
            return Convert.FromBase64String(Json.Str(m.Parsed, "payload", "body") ?? "").Length;
        }

        static SimpleRequest Simple(long responseSize, long payloadSize, string extra = "")
        {
            return new SimpleRequest { Json = "{\"responseSize\":" + responseSize + ",\"payload\":" + Payloads.Zeros(payloadSize) + extra + "}" };
        }

        static StreamingOutputCallRequest Output(params long[] sizes)
        {
            return new StreamingOutputCallRequest
            {
                Json = "{\"responseParameters\":[" + string.Join(",", sizes.Select(s => "{\"size\":" + s + "}")) + "]}"
            };
        }

        /// <summary>Every kind of call through the generated client.</summary>
        static async Task Exercise(TestService.TestServiceClient client, bool ourServer)
        {
            var deadline = DateTime.UtcNow.AddSeconds(20);
            // Unary, blocking and async.
            Assert.AreEqual(314159, PayloadSize(client.UnaryCall(Simple(314159, 271828), deadline: deadline)));
            var call = client.UnaryCallAsync(Simple(7, 3), new CallOptions(deadline: deadline));
            Assert.AreEqual(7, PayloadSize(await call));
            Assert.AreEqual(StatusCode.OK, call.GetStatus().StatusCode);
            // A status from the server.
            var e = Assert.Throws<RpcException>(() => client.UnaryCall(
                Simple(1, 1, ",\"responseStatus\":{\"code\":9,\"message\":\"from the peer\"}"), deadline: deadline));
            Assert.AreEqual(StatusCode.FailedPrecondition, e.StatusCode);
            Assert.AreEqual("from the peer", e.Status.Detail);
            // Server streaming.
            using (var s = client.StreamingOutputCall(Output(31415, 9, 2653, 58979), deadline: deadline))
            {
                var got = await s.ResponseStream.ToListAsync();
                CollectionAssert.AreEqual(new long[] { 31415, 9, 2653, 58979 }, got.Select(PayloadSize).ToArray());
            }
            // Client streaming.
            using (var c = client.StreamingInputCall(deadline: deadline))
            {
                foreach (var n in new[] { 27182, 8, 1828, 45904 })
                    await c.RequestStream.WriteAsync(new StreamingInputCallRequest { Json = "{\"payload\":" + Payloads.Zeros(n) + "}" });
                await c.RequestStream.CompleteAsync();
                Assert.AreEqual(74922, Json.Int((await c).Parsed, "aggregatedPayloadSize"));
            }
            // Bidirectional ping-pong.
            using (var d = client.FullDuplexCall(deadline: deadline))
            {
                foreach (var n in new long[] { 31415, 9, 2653 })
                {
                    await d.RequestStream.WriteAsync(Output(n));
                    Assert.IsTrue(await d.ResponseStream.MoveNext());
                    Assert.AreEqual(n, PayloadSize(d.ResponseStream.Current));
                }
                await d.RequestStream.CompleteAsync();
                Assert.IsFalse(await d.ResponseStream.MoveNext());
            }
            // A method the service does not implement: the generated base class answers UNIMPLEMENTED
            // (ours), and real gRPC's server has no handler for it.
            var u = Assert.Throws<RpcException>(() => client.UnimplementedCall(new Empty(), deadline: deadline));
            Assert.AreEqual(StatusCode.Unimplemented, u.StatusCode);
            if (ourServer)
            {
                var h = Async.Throws<RpcException>(() => client.HalfDuplexCall(deadline: deadline).ResponseStream.MoveNext());
                Assert.AreEqual(StatusCode.Unimplemented, h.StatusCode);
            }
        }

        [Test]
        public async Task GeneratedClientAgainstGeneratedService()
        {
            using (var lo = new Loopback(TestService.BindService(new JsonTestService())))
            {
                await Exercise(new TestService.TestServiceClient(lo.Channel), true);
                // WithHost and a CallInvoker work as in Grpc.Core.
                var viaInvoker = new TestService.TestServiceClient(lo.Channel.CreateCallInvoker()).WithHost("other.example");
                Assert.AreEqual(5, PayloadSize(viaInvoker.UnaryCall(Simple(5, 0))));
            }
        }

        [Test]
        public void ServiceBinderSeesEveryMethod()
        {
            var binder = new RecordingBinder();
            TestService.BindService(binder, new JsonTestService());
            CollectionAssert.AreEqual(new[]
            {
                "Unary /grpc.testing.TestService/EmptyCall", "Unary /grpc.testing.TestService/UnaryCall",
                "Unary /grpc.testing.TestService/CacheableUnaryCall", "ServerStreaming /grpc.testing.TestService/StreamingOutputCall",
                "ClientStreaming /grpc.testing.TestService/StreamingInputCall", "DuplexStreaming /grpc.testing.TestService/FullDuplexCall",
                "DuplexStreaming /grpc.testing.TestService/HalfDuplexCall", "Unary /grpc.testing.TestService/UnimplementedCall",
            }, binder.Seen);
        }

        sealed class RecordingBinder : ServiceBinderBase
        {
            internal readonly List<string> Seen = new List<string>();
            public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse> handler)
            { Seen.Add(method.Type + " " + method.FullName); }
            public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse> handler)
            { Seen.Add(method.Type + " " + method.FullName); }
            public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse> handler)
            { Seen.Add(method.Type + " " + method.FullName); }
            public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse> handler)
            { Seen.Add(method.Type + " " + method.FullName); }
        }

        [Test]
        public async Task GeneratedClientAgainstRealGrpc()
        {
            var exe = Path.Combine(TestEnv.BuildDir, "conformance", "grpcxx", "grpcxx_interop_server");
            Assert.IsTrue(File.Exists(exe), "real gRPC's interop server is missing: " + exe);
            using (var peer = RealPeer.Start(exe))
            {
                var channel = new Channel("127.0.0.1:" + peer.Port, ChannelCredentials.Insecure);
                try
                {
                    await Exercise(new TestService.TestServiceClient(channel), false);
                }
                finally
                {
                    await channel.ShutdownAsync();
                }
            }
        }
    }

    /// <summary>A real gRPC peer process on a free 127.0.0.1 port, stopped by its PID.</summary>
    sealed class RealPeer : IDisposable
    {
        readonly Process process;
        internal readonly int Port;

        RealPeer(Process process, int port)
        {
            this.process = process;
            Port = port;
        }

        internal static RealPeer Start(string exe)
        {
            for (int attempt = 0; attempt < 3; attempt++)
            {
                var l = new TcpListener(IPAddress.Loopback, 0);
                l.Start();
                int port = ((IPEndPoint)l.LocalEndpoint).Port;
                l.Stop();
                var p = Process.Start(new ProcessStartInfo(exe, "--port=" + port + " --use_tls=false")
                {
                    UseShellExecute = false,
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                });
                p.OutputDataReceived += (s, e) => { };
                p.ErrorDataReceived += (s, e) => { };
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
                var until = DateTime.UtcNow.AddSeconds(10);
                while (DateTime.UtcNow < until && !p.HasExited)
                {
                    try
                    {
                        using (var c = new TcpClient())
                        {
                            c.Connect(IPAddress.Loopback, port);
                            return new RealPeer(p, port);
                        }
                    }
                    catch (SocketException)
                    {
                        Thread.Sleep(50);
                    }
                }
                if (!p.HasExited) p.Kill();
            }
            Assert.Fail("could not start " + exe);
            return null;
        }

        public void Dispose()
        {
            try
            {
                if (!process.HasExited) process.Kill();
                process.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
            process.Dispose();
        }
    }
}
