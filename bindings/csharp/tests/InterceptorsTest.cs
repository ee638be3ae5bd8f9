// Client and server interceptors (PolyRpc.Core.Interceptors, Grpc.Core's shape).
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using PolyRpc.Core;
using PolyRpc.Core.Interceptors;

namespace PolyRpc.Tests
{
    /// <summary>Records every interception and adds a header on the client side.</summary>
    sealed class Recorder : Interceptor
    {
        internal readonly string Name;
        internal readonly ConcurrentQueue<string> Log;

        internal Recorder(string name, ConcurrentQueue<string> log)
        {
            Name = name;
            Log = log;
        }

        ClientInterceptorContext<TReq, TResp> WithHeader<TReq, TResp>(ClientInterceptorContext<TReq, TResp> c)
            where TReq : class where TResp : class
        {
            var h = new Metadata();
            if (c.Options.Headers != null) foreach (var e in c.Options.Headers) h.Add(e);
            h.Add("x-seen-by", Name);
            return new ClientInterceptorContext<TReq, TResp>(c.Method, c.Host, c.Options.WithHeaders(h));
        }

        public override TResponse BlockingUnaryCall<TRequest, TResponse>(TRequest request,
            ClientInterceptorContext<TRequest, TResponse> context, BlockingUnaryCallContinuation<TRequest, TResponse> continuation)
        {
            Log.Enqueue(Name + ":blocking:" + context.Method.Name);
            return continuation(request, WithHeader(context));
        }

        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request,
            ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
        {
            Log.Enqueue(Name + ":unary:" + context.Method.Name);
            var call = continuation(request, WithHeader(context));
            // Wrap the response as interceptors do.
            return new AsyncUnaryCall<TResponse>(Tag(call.ResponseAsync), call.ResponseHeadersAsync, call.GetStatus,
                                                 call.GetTrailers, call.Dispose);
        }

        async Task<T> Tag<T>(Task<T> inner)
        {
            var r = await inner.ConfigureAwait(false);
            Log.Enqueue(Name + ":response");
            return r;
        }

        public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(TRequest request,
            ClientInterceptorContext<TRequest, TResponse> context, AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation)
        {
            Log.Enqueue(Name + ":server-streaming:" + context.Method.Name);
            return continuation(request, WithHeader(context));
        }

        public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(
            ClientInterceptorContext<TRequest, TResponse> context, AsyncClientStreamingCallContinuation<TRequest, TResponse> continuation)
        {
            Log.Enqueue(Name + ":client-streaming:" + context.Method.Name);
            return continuation(WithHeader(context));
        }

        public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(
            ClientInterceptorContext<TRequest, TResponse> context, AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation)
        {
            Log.Enqueue(Name + ":duplex:" + context.Method.Name);
            return continuation(WithHeader(context));
        }

        public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
            UnaryServerMethod<TRequest, TResponse> continuation)
        {
            Log.Enqueue(Name + ":server-unary:" + context.Method + ":" + string.Join("+", SeenBy(context)));
            if ((request as string) == "deny") throw new RpcException(new Status(StatusCode.PermissionDenied, Name + " says no"));
            var r = await continuation(request, context);
            context.ResponseTrailers.Add("x-server-" + Name, "done");
            return r;
        }

        static IEnumerable<string> SeenBy(ServerCallContext c)
        {
            foreach (var e in c.RequestHeaders) if (e.Key == "x-seen-by") yield return e.Value;
        }

        public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
            ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
        {
            Log.Enqueue(Name + ":server-client-streaming");
            return continuation(requestStream, context);
        }

        public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request,
            IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
            ServerStreamingServerMethod<TRequest, TResponse> continuation)
        {
            Log.Enqueue(Name + ":server-server-streaming");
            return continuation(request, responseStream, context);
        }

        public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
            IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
            DuplexStreamingServerMethod<TRequest, TResponse> continuation)
        {
            Log.Enqueue(Name + ":server-duplex");
            return continuation(requestStream, responseStream, context);
        }
    }

    [TestFixture, Timeout(60000)]
    public class InterceptorsTest
    {
        ConcurrentQueue<string> log;
        Loopback lo;
        CallInvoker invoker;

        [SetUp]
        public void SetUp()
        {
            log = new ConcurrentQueue<string>();
            var service = Svc.Definition().Intercept(new Recorder("s1", log), new Recorder("s2", log));
            lo = new Loopback(service);
            invoker = lo.Channel.Intercept(new Recorder("c1", log), new Recorder("c2", log));
        }

        [TearDown]
        public void TearDown() { lo.Dispose(); }

        string[] Drain()
        {
            var list = new List<string>();
            string s;
            while (log.TryDequeue(out s)) list.Add(s);
            return list.ToArray();
        }

        [Test]
        public void BlockingUnaryOrderAndHeaders()
        {
            Assert.AreEqual("x", invoker.BlockingUnaryCall(Svc.Echo, null, new CallOptions(), "x"));
            CollectionAssert.AreEqual(new[]
            {
                "c1:blocking:Echo", "c2:blocking:Echo",
                // The server's outermost interceptor sees both client headers, in the order added.
                "s1:server-unary:/polyrpc.test.Echo/Echo:c1+c2", "s2:server-unary:/polyrpc.test.Echo/Echo:c1+c2",
            }, Drain());
        }

        [Test]
        public async Task AsyncUnaryWrappedResponse()
        {
            var call = invoker.AsyncUnaryCall(Svc.Echo, null, new CallOptions(), "y");
            Assert.AreEqual("y", await call);
            Assert.AreEqual("done", call.GetTrailers().GetValue("x-server-s1"));
            Assert.AreEqual("done", call.GetTrailers().GetValue("x-server-s2"));
            var seen = Drain();
            CollectionAssert.Contains(seen, "c1:unary:Echo");
            CollectionAssert.Contains(seen, "c2:unary:Echo");
            // Responses come back inside out: c2 wraps the real call, c1 wraps c2.
            Assert.Less(Array.IndexOf(seen, "c2:response"), Array.IndexOf(seen, "c1:response"));
        }

        [Test]
        public void ServerInterceptorEndsTheCall()
        {
            var e = Assert.Throws<RpcException>(() => invoker.BlockingUnaryCall(Svc.Echo, null, new CallOptions(), "deny"));
            Assert.AreEqual(StatusCode.PermissionDenied, e.StatusCode);
            Assert.AreEqual("s1 says no", e.Status.Detail);
        }

        [Test]
        public async Task StreamingKinds()
        {
            using (var ss = invoker.AsyncServerStreamingCall(Svc.Count, null, new CallOptions(), "2"))
                Assert.AreEqual(2, (await ss.ResponseStream.ToListAsync()).Count);
            using (var cs = invoker.AsyncClientStreamingCall(Svc.Join, null, new CallOptions()))
            {
                await cs.RequestStream.WriteAllAsync(new[] { "a", "b" });
                Assert.AreEqual("a,b", await cs);
            }
            using (var d = invoker.AsyncDuplexStreamingCall(Svc.Chat, null, new CallOptions()))
            {
                await d.RequestStream.WriteAsync("q");
                Assert.IsTrue(await d.ResponseStream.MoveNext());
                await d.RequestStream.CompleteAsync();
                Assert.IsFalse(await d.ResponseStream.MoveNext());
            }
            var seen = Drain();
            foreach (var want in new[] { "c1:server-streaming:Count", "c2:server-streaming:Count", "s1:server-server-streaming",
                                         "s2:server-server-streaming", "c1:client-streaming:Join", "s1:server-client-streaming",
                                         "c2:duplex:Chat", "s2:server-duplex" })
                CollectionAssert.Contains(seen, want);
        }

        [Test]
        public void MetadataInterceptor()
        {
            var inv = lo.Channel.CreateCallInvoker().Intercept(h =>
            {
                h.Add("x-echo", "from-func");
                return h;
            });
            var call = inv.AsyncUnaryCall(Svc.Headers, null, new CallOptions(), "");
            call.ResponseAsync.Wait(10000);
            Assert.AreEqual("from-func", call.ResponseHeadersAsync.Result.GetValue("x-echo"));
        }
    }
}
