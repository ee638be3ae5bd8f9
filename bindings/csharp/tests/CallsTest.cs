// Every kind of call, metadata, deadlines, cancellation and errors, against an in-process server.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using PolyRpc.Core;

namespace PolyRpc.Tests
{
    [TestFixture, Timeout(60000)]
    public class CallsTest
    {
        Loopback lo;

        [TestFixtureSetUp]
        public void SetUp() { lo = new Loopback(); }

        [TestFixtureTearDown]
        public void TearDown() { lo.Dispose(); }

        static CallOptions Opts(int seconds = 10)
        {
            return new CallOptions(deadline: DateTime.UtcNow.AddSeconds(seconds));
        }

        [Test]
        public void BlockingUnary()
        {
            Assert.AreEqual("hello", lo.Invoker.BlockingUnaryCall(Svc.Echo, null, Opts(), "hello"));
            Assert.AreEqual("", lo.Invoker.BlockingUnaryCall(Svc.Echo, null, Opts(), ""));
        }

        [Test]
        public async Task AsyncUnary()
        {
            var call = lo.Invoker.AsyncUnaryCall(Svc.Echo, null, Opts(), "héllo ✓");
            Assert.AreEqual("héllo ✓", await call);
            Assert.AreEqual(StatusCode.OK, call.GetStatus().StatusCode);
            Assert.AreEqual(0, call.GetTrailers().Count);
            Assert.AreEqual("héllo ✓", await call.ResponseAsync);
        }

        [Test]
        public async Task ManyAsyncUnaryInFlight()
        {
            var calls = Enumerable.Range(0, 200)
                .Select(i => lo.Invoker.AsyncUnaryCall(Svc.Echo, null, Opts(), "m" + i)).ToList();
            var replies = await Task.WhenAll(calls.Select(c => c.ResponseAsync));
            for (int i = 0; i < replies.Length; i++) Assert.AreEqual("m" + i, replies[i]);
        }

        [Test]
        public async Task LargeMessages()
        {
            var big = new string('x', 3 * 1024 * 1024);
            Assert.AreEqual(big.Length, (await lo.Invoker.AsyncUnaryCall(Svc.Echo, null, Opts(), big)).Length);
            Assert.AreEqual(big.Length, lo.Invoker.BlockingUnaryCall(Svc.Echo, null, Opts(), big).Length);
        }

        [Test]
        public async Task ServerStreaming()
        {
            using (var call = lo.Invoker.AsyncServerStreamingCall(Svc.Count, null, Opts(), "5"))
            {
                var got = new List<string>();
                while (await call.ResponseStream.MoveNext(CancellationToken.None)) got.Add(call.ResponseStream.Current);
                CollectionAssert.AreEqual(new[] { "0", "1", "2", "3", "4" }, got);
                Assert.AreEqual(StatusCode.OK, call.GetStatus().StatusCode);
                // Reading past the end stays at the end.
                Assert.IsFalse(await call.ResponseStream.MoveNext(CancellationToken.None));
            }
        }

        [Test]
        public async Task ServerStreamingEmpty()
        {
            using (var call = lo.Invoker.AsyncServerStreamingCall(Svc.Count, null, Opts(), "0"))
            {
                Assert.IsFalse(await call.ResponseStream.MoveNext());
                Assert.AreEqual(StatusCode.OK, call.GetStatus().StatusCode);
            }
        }

        [Test]
        public async Task ClientStreaming()
        {
            using (var call = lo.Invoker.AsyncClientStreamingCall(Svc.Join, null, Opts()))
            {
                await call.RequestStream.WriteAsync("a");
                await call.RequestStream.WriteAsync("b");
                await call.RequestStream.WriteAsync("c");
                await call.RequestStream.CompleteAsync();
                Assert.AreEqual("a,b,c", await call);
                Assert.AreEqual(StatusCode.OK, call.GetStatus().StatusCode);
            }
        }

        [Test]
        public async Task ClientStreamingWithoutMessages()
        {
            using (var call = lo.Invoker.AsyncClientStreamingCall(Svc.Join, null, Opts()))
            {
                await call.RequestStream.CompleteAsync();
                Assert.AreEqual("", await call.ResponseAsync);
            }
        }

        [Test]
        public async Task DuplexPingPong()
        {
            using (var call = lo.Invoker.AsyncDuplexStreamingCall(Svc.Chat, null, Opts()))
            {
                for (int i = 0; i < 10; i++)
                {
                    await call.RequestStream.WriteAsync("p" + i);
                    Assert.IsTrue(await call.ResponseStream.MoveNext());
                    Assert.AreEqual("re:p" + i, call.ResponseStream.Current);
                }
                await call.RequestStream.CompleteAsync();
                Assert.IsFalse(await call.ResponseStream.MoveNext());
                Assert.AreEqual(StatusCode.OK, call.GetStatus().StatusCode);
                Assert.AreEqual("yes", call.GetTrailers().GetValue("x-done"));
            }
        }

        [Test]
        public void OneWriteAtATime()
        {
            using (var call = lo.Invoker.AsyncDuplexStreamingCall(Svc.Chat, null, Opts()))
            {
                var first = call.RequestStream.WriteAsync(new string('z', 3 << 20));
                try
                {
                    Assert.Throws<InvalidOperationException>(() => call.RequestStream.WriteAsync("second"));
                }
                finally
                {
                    first.Wait(10000);
                }
            }
        }

        [Test]
        public async Task WriteAfterCompleteThrows()
        {
            using (var call = lo.Invoker.AsyncClientStreamingCall(Svc.Join, null, Opts()))
            {
                await call.RequestStream.CompleteAsync();
                Assert.Throws<InvalidOperationException>(() => call.RequestStream.WriteAsync("late"));
                Assert.AreEqual("", await call);
            }
        }

        [Test]
        public async Task RequestAndResponseMetadata()
        {
            var headers = new Metadata
            {
                { "x-echo", "polyrpc ~!#$%&'()*+,-./:;<=>?@[\\]^_`{|}" },
                { "X-Echo-Bin", Enumerable.Range(0, 256).Select(i => (byte)i).ToArray() },
            };
            var call = lo.Invoker.AsyncUnaryCall(Svc.Headers, null, new CallOptions(headers: headers), "");
            var responseHeaders = await call.ResponseHeadersAsync;
            Assert.AreEqual("polyrpc ~!#$%&'()*+,-./:;<=>?@[\\]^_`{|}", responseHeaders.GetValue("x-echo"));
            var reply = await call;
            StringAssert.StartsWith("/polyrpc.test.Echo/Headers|no-deadline|127.0.0.1:" + lo.Port, reply);
            var trailer = call.GetTrailers().Get("x-echo-bin");
            Assert.IsTrue(trailer.IsBinary);
            CollectionAssert.AreEqual(Enumerable.Range(0, 256).Select(i => (byte)i).ToArray(), trailer.ValueBytes);
        }

        [Test]
        public async Task ResponseHeadersAfterTheCallEnded()
        {
            var headers = new Metadata { { "x-echo", "late" } };
            var call = lo.Invoker.AsyncUnaryCall(Svc.Headers, null, new CallOptions(headers: headers), "");
            await call;
            Assert.AreEqual("late", (await call.ResponseHeadersAsync).GetValue("x-echo"));
        }

        [Test]
        public async Task StreamingResponseHeaders()
        {
            var headers = new Metadata { { "x-echo", "s" } };
            using (var call = lo.Invoker.AsyncDuplexStreamingCall(Svc.Chat, null, new CallOptions(headers: headers)))
            {
                await call.RequestStream.WriteAsync("1");
                var h = await call.ResponseHeadersAsync;
                Assert.IsNotNull(h);
                Assert.IsTrue(await call.ResponseStream.MoveNext());
                await call.RequestStream.CompleteAsync();
                Assert.IsFalse(await call.ResponseStream.MoveNext());
            }
        }

        [Test]
        public void HostOverridesAuthority()
        {
            var reply = lo.Invoker.BlockingUnaryCall(Svc.Headers, "override.example", Opts(), "");
            StringAssert.IsMatch(@"^/polyrpc\.test\.Echo/Headers\|deadline=[0-9]+\|override\.example\|$", reply);
        }

        [Test]
        public void ServerSeesTheDeadline()
        {
            var reply = lo.Invoker.BlockingUnaryCall(Svc.Headers, null, Opts(30), "");
            // The deadline, and the time left on it as the call's monotonic clock reads it
            // (ServerCallContextExtensions.TimeRemaining): whole seconds, 25 to 30.
            var m = System.Text.RegularExpressions.Regex.Match(reply, @"\|deadline=([0-9]+)\|");
            Assert.IsTrue(m.Success, reply);
            int left = int.Parse(m.Groups[1].Value);
            Assert.That(left, Is.InRange(25, 30), reply);
        }

        [Test]
        public void StatusAndTrailersOfAFailedCall()
        {
            var e = Assert.Throws<RpcException>(() => lo.Invoker.BlockingUnaryCall(Svc.Fail, null, Opts(), "5:not here"));
            Assert.AreEqual(StatusCode.NotFound, e.StatusCode);
            Assert.AreEqual("not here", e.Status.Detail);
            Assert.AreEqual("not here", System.Text.Encoding.UTF8.GetString(e.Trailers.GetValueBytes("x-why-bin")));
            CollectionAssert.AreEqual(new byte[] { 0, 1, 255 }, e.Trailers.GetValueBytes("x-raw-bin"));
        }

        [Test]
        public void AsyncFailedCall()
        {
            var call = lo.Invoker.AsyncUnaryCall(Svc.Fail, null, Opts(), "9:\t\nunicode ☺ \U0001f608");
            var e = Async.Throws<RpcException>(() => call.ResponseAsync);
            Assert.AreEqual(StatusCode.FailedPrecondition, e.StatusCode);
            Assert.AreEqual("\t\nunicode ☺ \U0001f608", e.Status.Detail);
            Assert.AreEqual(StatusCode.FailedPrecondition, call.GetStatus().StatusCode);
            Assert.AreEqual("\t\nunicode ☺ \U0001f608", System.Text.Encoding.UTF8.GetString(call.GetTrailers().GetValueBytes("x-why-bin")));
        }

        [Test]
        public void HandlerExceptionIsUnknown()
        {
            var e = Assert.Throws<RpcException>(() => lo.Invoker.BlockingUnaryCall(Svc.Fail, null, Opts(), "throw"));
            Assert.AreEqual(StatusCode.Unknown, e.StatusCode);
            Assert.AreEqual("Exception was thrown by handler.", e.Status.Detail);
        }

        [Test]
        public void UnimplementedMethod()
        {
            var e = Assert.Throws<RpcException>(() => lo.Invoker.BlockingUnaryCall(Svc.Missing, null, Opts(), "x"));
            Assert.AreEqual(StatusCode.Unimplemented, e.StatusCode);
            var e2 = Async.Throws<RpcException>(() => lo.Invoker.AsyncUnaryCall(Svc.Missing, null, Opts(), "x").ResponseAsync);
            Assert.AreEqual(StatusCode.Unimplemented, e2.StatusCode);
        }

        [Test]
        public void StatusBeforeTheEndThrows()
        {
            using (var call = lo.Invoker.AsyncDuplexStreamingCall(Svc.Chat, null, Opts()))
            {
                Assert.Throws<InvalidOperationException>(() => call.GetStatus());
                Assert.Throws<InvalidOperationException>(() => call.GetTrailers());
            }
        }

        [Test]
        public void DeadlineExceeded()
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var e = Assert.Throws<RpcException>(() => lo.Invoker.BlockingUnaryCall(
                Svc.Sleep, null, new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(200)), "5000"));
            Assert.AreEqual(StatusCode.DeadlineExceeded, e.StatusCode);
            Assert.Less(sw.ElapsedMilliseconds, 3000);
            var e2 = Async.Throws<RpcException>(() => lo.Invoker.AsyncUnaryCall(
                Svc.Sleep, null, new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(200)), "5000").ResponseAsync);
            Assert.AreEqual(StatusCode.DeadlineExceeded, e2.StatusCode);
        }

        [Test]
        public void DeadlineInThePast()
        {
            var e = Assert.Throws<RpcException>(() => lo.Invoker.BlockingUnaryCall(
                Svc.Echo, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(-1)), "x"));
            Assert.AreEqual(StatusCode.DeadlineExceeded, e.StatusCode);
        }

        [Test]
        public async Task DeadlineEndsAStreamAndTheServerSeesIt()
        {
            int before = Volatile.Read(ref Svc.HangCancelled);
            using (var call = lo.Invoker.AsyncDuplexStreamingCall(Svc.Hang, null,
                       new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(300))))
            {
                Assert.IsTrue(await call.ResponseStream.MoveNext());
                var e = Async.Throws<RpcException>(() => call.ResponseStream.MoveNext());
                Assert.AreEqual(StatusCode.DeadlineExceeded, e.StatusCode);
            }
            Assert.IsTrue(TestEnv.Eventually(() => Volatile.Read(ref Svc.HangCancelled) > before),
                          "the handler's CancellationToken did not fire at the deadline");
        }

        [Test]
        public void CancellationTokenCancelsBlockingCall()
        {
            using (var cts = new CancellationTokenSource(200))
            {
                var sw = System.Diagnostics.Stopwatch.StartNew();
                var e = Assert.Throws<RpcException>(() => lo.Invoker.BlockingUnaryCall(
                    Svc.Sleep, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(20), cancellationToken: cts.Token), "10000"));
                Assert.AreEqual(StatusCode.Cancelled, e.StatusCode);
                Assert.Less(sw.ElapsedMilliseconds, 5000);
            }
        }

        [Test]
        public async Task CancellationTokenCancelsAsyncCallOnTheWire()
        {
            int before = Volatile.Read(ref Svc.HangCancelled);
            using (var cts = new CancellationTokenSource())
            using (var call = lo.Invoker.AsyncDuplexStreamingCall(Svc.Hang, null, new CallOptions(cancellationToken: cts.Token)))
            {
                Assert.IsTrue(await call.ResponseStream.MoveNext());
                cts.Cancel();
                var e = Async.Throws<RpcException>(() => call.ResponseStream.MoveNext());
                Assert.AreEqual(StatusCode.Cancelled, e.StatusCode);
                Assert.AreEqual(StatusCode.Cancelled, call.GetStatus().StatusCode);
            }
            // The server saw it: the cancellation went over the wire (RST_STREAM).
            Assert.IsTrue(TestEnv.Eventually(() => Volatile.Read(ref Svc.HangCancelled) > before),
                          "the server's handler was not cancelled");
        }

        [Test]
        public void AlreadyCancelledToken()
        {
            var e = Async.Throws<RpcException>(() => lo.Invoker.AsyncUnaryCall(
                Svc.Sleep, null, new CallOptions(cancellationToken: new CancellationToken(true)), "5000").ResponseAsync);
            Assert.AreEqual(StatusCode.Cancelled, e.StatusCode);
        }

        [Test]
        public async Task MoveNextTokenCancelsTheCall()
        {
            using (var call = lo.Invoker.AsyncDuplexStreamingCall(Svc.Hang, null, new CallOptions()))
            using (var cts = new CancellationTokenSource())
            {
                Assert.IsTrue(await call.ResponseStream.MoveNext());
                var next = call.ResponseStream.MoveNext(cts.Token);
                cts.Cancel();
                var e = Async.Throws<RpcException>(() => next);
                Assert.AreEqual(StatusCode.Cancelled, e.StatusCode);
            }
        }

        [Test]
        public async Task DisposeCancels()
        {
            var call = lo.Invoker.AsyncUnaryCall(Svc.Sleep, null, new CallOptions(), "10000");
            await Task.Delay(50);
            call.Dispose();
            var e = Async.Throws<RpcException>(() => call.ResponseAsync);
            Assert.AreEqual(StatusCode.Cancelled, e.StatusCode);
        }

        [Test]
        public async Task CancelAfterBeginOfClientStream()
        {
            using (var cts = new CancellationTokenSource())
            {
                var call = lo.Invoker.AsyncClientStreamingCall(Svc.Join, null, new CallOptions(cancellationToken: cts.Token));
                cts.Cancel();
                var e = Async.Throws<RpcException>(() => call.ResponseAsync);
                Assert.AreEqual(StatusCode.Cancelled, e.StatusCode);
                // Writing to a cancelled call fails with its status.
                var we = Async.Throws<RpcException>(() => call.RequestStream.WriteAsync("x"));
                Assert.AreEqual(StatusCode.Cancelled, we.StatusCode);
                await call.RequestStream.CompleteAsync(); // completing an ended call is not an error
                call.Dispose();
            }
        }

        [Test]
        public async Task ChannelState()
        {
            using (var extra = new Loopback())
            {
                var ch = new Channel("127.0.0.1:" + extra.Port, ChannelCredentials.Insecure);
                Assert.AreEqual(PolyRpc.Core.ChannelState.Idle, ch.State);
                await ch.ConnectAsync(DateTime.UtcNow.AddSeconds(5));
                Assert.AreEqual(PolyRpc.Core.ChannelState.Ready, ch.State);
                Assert.IsFalse(await ch.TryWaitForStateChangedAsync(PolyRpc.Core.ChannelState.Ready, DateTime.UtcNow.AddMilliseconds(100)));
                await ch.ShutdownAsync();
                Assert.AreEqual(PolyRpc.Core.ChannelState.Shutdown, ch.State);
            }
        }

        [Test]
        public void ConnectToNothingTimesOut()
        {
            // A port nobody listens on: grab one and close it.
            var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            l.Start();
            int port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            var ch = new Channel("127.0.0.1:" + port, ChannelCredentials.Insecure);
            Async.Throws<TaskCanceledException>(() => ch.ConnectAsync(DateTime.UtcNow.AddMilliseconds(300)));
            var e = Assert.Throws<RpcException>(() => ch.CreateCallInvoker().BlockingUnaryCall(Svc.Echo, null, Opts(), "x"));
            Assert.AreEqual(StatusCode.Unavailable, e.StatusCode);
            ch.ShutdownAsync().Wait(5000);
        }

        [Test]
        public void WaitForReadyQueuesTheCall()
        {
            // A server that starts listening after the call was made.
            var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            l.Start();
            int port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            var ch = new Channel("127.0.0.1:" + port, ChannelCredentials.Insecure);
            var call = ch.CreateCallInvoker().AsyncUnaryCall(Svc.Echo, null,
                new CallOptions(deadline: DateTime.UtcNow.AddSeconds(20)).WithWaitForReady(), "queued");
            Thread.Sleep(300);
            Assert.IsFalse(call.ResponseAsync.IsCompleted, "a wait-for-ready call failed while nothing listened");
            var server = new Server();
            server.Services.Add(Svc.Definition());
            server.Ports.Add("127.0.0.1", port, ServerCredentials.Insecure);
            server.Start();
            try
            {
                Assert.IsTrue(call.ResponseAsync.Wait(15000));
                Assert.AreEqual("queued", call.ResponseAsync.Result);
            }
            finally
            {
                ch.ShutdownAsync().Wait(5000);
                server.KillAsync().Wait(5000);
            }
        }

        [Test]
        public async Task ServerSideStatusWithoutException()
        {
            var m = new Method<string, string>(MethodType.Unary, "polyrpc.test.Other", "Status",
                                               Marshallers.StringMarshaller, Marshallers.StringMarshaller);
            var svc = ServerServiceDefinition.CreateBuilder()
                .AddMethod(m, (string r, ServerCallContext c) =>
                {
                    c.Status = new Status(StatusCode.AlreadyExists, "set, not thrown");
                    c.ResponseTrailers.Add("x-t", "1");
                    return Task.FromResult("ignored");
                }).Build();
            using (var other = new Loopback(svc))
            {
                var call = other.Invoker.AsyncUnaryCall(m, null, Opts(), "");
                var e = Async.Throws<RpcException>(() => call.ResponseAsync);
                Assert.AreEqual(StatusCode.AlreadyExists, e.StatusCode);
                Assert.AreEqual("set, not thrown", e.Status.Detail);
                Assert.AreEqual("1", e.Trailers.GetValue("x-t"));
                await Task.Yield();
            }
        }

        [Test]
        public void MaxReceiveMessageLength()
        {
            using (var small = new Loopback(channelOptions: new[] { new ChannelOption(ChannelOptions.MaxReceiveMessageLength, 1024) }))
            {
                var e = Assert.Throws<RpcException>(() => small.Invoker.BlockingUnaryCall(Svc.Echo, null, Opts(), new string('a', 4096)));
                Assert.AreEqual(StatusCode.ResourceExhausted, e.StatusCode);
                // The channel is still usable.
                Assert.AreEqual("ok", small.Invoker.BlockingUnaryCall(Svc.Echo, null, Opts(), "ok"));
            }
        }

        [Test]
        public void RequestOverTheServerLimit()
        {
            var e = Assert.Throws<RpcException>(() => lo.Invoker.BlockingUnaryCall(Svc.Echo, null, Opts(), new string('a', 5 << 20)));
            Assert.AreEqual(StatusCode.ResourceExhausted, e.StatusCode);
            Assert.AreEqual("ok", lo.Invoker.BlockingUnaryCall(Svc.Echo, null, Opts(), "ok"));
        }

        [Test]
        public void Compression()
        {
            // Grpc.Core's way: "grpc-internal-encoding-request" in the call's headers.
            var h = new Metadata { { "grpc-internal-encoding-request", "gzip" } };
            var big = new string('c', 100000);
            Assert.AreEqual(big, lo.Invoker.BlockingUnaryCall(Svc.Echo, null, new CallOptions(headers: h), big));
            Assert.AreEqual(big, lo.Invoker.AsyncUnaryCall(Svc.Echo, null, new CallOptions(headers: h), big).ResponseAsync.Result);
        }
    }
}
