// Shared by the C# tests: where the build tree is, a test service over string messages, and an
// in-process server on 127.0.0.1 with a channel to it.
using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using PolyRpc.Core;

namespace PolyRpc.Tests
{
    static class TestEnv
    {
        /// <summary>build/bindings/csharp/bin: where PolyRpc.Tests.dll is.</summary>
        internal static string BinDir
        {
            get { return Path.GetDirectoryName(typeof(TestEnv).Assembly.Location); }
        }

        /// <summary>The build tree (bin/../../..; POLYRPC_BUILD_DIR overrides).</summary>
        internal static string BuildDir
        {
            get
            {
                var env = Environment.GetEnvironmentVariable("POLYRPC_BUILD_DIR");
                return string.IsNullOrEmpty(env) ? Path.GetFullPath(Path.Combine(BinDir, "..", "..", "..")) : env;
            }
        }

        internal static string CertDir
        {
            get
            {
                var env = Environment.GetEnvironmentVariable("POLYRPC_TEST_CERTS");
                return string.IsNullOrEmpty(env) ? Path.Combine(BuildDir, "certs") : env;
            }
        }

        internal static string Cert(string name)
        {
            var path = Path.Combine(CertDir, name);
            if (!File.Exists(path)) Assert.Fail("test certificate missing: " + path + " (tools/gen-test-certs.sh)");
            return File.ReadAllText(path);
        }

        /// <summary>Waits until cond holds (bounded): for counts that settle on completion threads.</summary>
        internal static bool Eventually(Func<bool> cond, int timeoutMs = 5000)
        {
            var until = DateTime.UtcNow.AddMilliseconds(timeoutMs);
            while (!cond())
            {
                if (DateTime.UtcNow > until) return false;
                Thread.Sleep(10);
            }
            return true;
        }
    }

    /// <summary>Assertions on tasks (NUnit 2.6 has no Assert.ThrowsAsync).</summary>
    static class Async
    {
        /// <summary>The exception of type T that the task from f ends with (bounded wait).</summary>
        internal static T Throws<T>(Func<Task> f, int timeoutMs = 20000) where T : Exception
        {
            Exception got = null;
            try
            {
                var t = f();
                if (!t.Wait(timeoutMs)) Assert.Fail("the task did not complete within " + timeoutMs + " ms");
            }
            catch (AggregateException ae)
            {
                got = ae.InnerExceptions.Count == 1 ? ae.InnerException : ae;
            }
            catch (Exception e)
            {
                got = e;
            }
            if (got == null) Assert.Fail("expected " + typeof(T).Name + ", but the task succeeded");
            if (!(got is T)) Assert.Fail("expected " + typeof(T).Name + ", got " + got);
            return (T)got;
        }
    }

    /// <summary>The test service: string messages, every kind of method.</summary>
    static class Svc
    {
        internal const string Name = "polyrpc.test.Echo";
        static readonly Marshaller<string> S = Marshallers.StringMarshaller;

        internal static readonly Method<string, string> Echo = new Method<string, string>(MethodType.Unary, Name, "Echo", S, S);
        internal static readonly Method<string, string> Fail = new Method<string, string>(MethodType.Unary, Name, "Fail", S, S);
        internal static readonly Method<string, string> Sleep = new Method<string, string>(MethodType.Unary, Name, "Sleep", S, S);
        internal static readonly Method<string, string> Headers = new Method<string, string>(MethodType.Unary, Name, "Headers", S, S);
        internal static readonly Method<string, string> Count = new Method<string, string>(MethodType.ServerStreaming, Name, "Count", S, S);
        internal static readonly Method<string, string> Join = new Method<string, string>(MethodType.ClientStreaming, Name, "Join", S, S);
        internal static readonly Method<string, string> Chat = new Method<string, string>(MethodType.DuplexStreaming, Name, "Chat", S, S);
        internal static readonly Method<string, string> Hang = new Method<string, string>(MethodType.DuplexStreaming, Name, "Hang", S, S);
        internal static readonly Method<string, string> Missing = new Method<string, string>(MethodType.Unary, Name, "Missing", S, S);

        /// <summary>Cancellations the Hang handler saw (its token fired).</summary>
        internal static int HangCancelled;

        internal static ServerServiceDefinition Definition()
        {
            return ServerServiceDefinition.CreateBuilder()
                .AddMethod(Echo, (string req, ServerCallContext ctx) => Task.FromResult(req))
                .AddMethod(Fail, (string req, ServerCallContext ctx) =>
                {
                    // "code:message" ends the call with that status and a trailer; "throw" throws.
                    if (req == "throw") throw new InvalidOperationException("boom");
                    int colon = req.IndexOf(':');
                    var why = req.Substring(colon + 1);
                    var trailers = new Metadata { { "x-why-bin", System.Text.Encoding.UTF8.GetBytes(why) }, { "x-raw-bin", new byte[] { 0, 1, 255 } } };
                    throw new RpcException(new Status((StatusCode)int.Parse(req.Substring(0, colon)), req.Substring(colon + 1)), trailers);
                })
                .AddMethod(Sleep, async (string req, ServerCallContext ctx) =>
                {
                    // Sleeps req ms unless the call ends first; tells whether it saw the cancellation.
                    try
                    {
                        await Task.Delay(int.Parse(req), ctx.CancellationToken);
                    }
                    catch (TaskCanceledException)
                    {
                        return "cancelled";
                    }
                    return "slept";
                })
                .AddMethod(Headers, async (string req, ServerCallContext ctx) =>
                {
                    // Echoes request headers back: x-echo as a response header, x-echo-bin as a trailer;
                    // answers with the method, the deadline's presence and the authority.
                    var h = new Metadata();
                    foreach (var e in ctx.RequestHeaders)
                        if (e.Key == "x-echo") h.Add("x-echo", e.Value);
                    await ctx.WriteResponseHeadersAsync(h);
                    foreach (var e in ctx.RequestHeaders)
                        if (e.Key == "x-echo-bin") ctx.ResponseTrailers.Add("x-echo-bin", e.ValueBytes);
                    return ctx.Method + "|" + (ctx.Deadline == DateTime.MaxValue ? "no-deadline" : "deadline") +
                           (ctx.TimeRemaining().HasValue ? "=" + (long)ctx.TimeRemaining().Value.TotalSeconds : "") + "|" + ctx.Host +
                           "|" + (ctx.RequestHeaders.GetValue("authorization") ?? "");
                })
                .AddMethod(Count, async (string req, IServerStreamWriter<string> stream, ServerCallContext ctx) =>
                {
                    int n = int.Parse(req);
                    for (int i = 0; i < n; i++) await stream.WriteAsync(i.ToString());
                })
                .AddMethod(Join, async (IAsyncStreamReader<string> requests, ServerCallContext ctx) =>
                {
                    var all = await requests.ToListAsync();
                    return string.Join(",", all);
                })
                .AddMethod(Chat, async (IAsyncStreamReader<string> requests, IServerStreamWriter<string> responses, ServerCallContext ctx) =>
                {
                    while (await requests.MoveNext(CancellationToken.None))
                        await responses.WriteAsync("re:" + requests.Current);
                    ctx.ResponseTrailers.Add("x-done", "yes");
                })
                .AddMethod(Hang, async (IAsyncStreamReader<string> requests, IServerStreamWriter<string> responses, ServerCallContext ctx) =>
                {
                    // Answers once, then waits for the call to end (client cancel or deadline).
                    await responses.WriteAsync("started");
                    var tcs = new TaskCompletionSource<bool>();
                    using (ctx.CancellationToken.Register(() => tcs.TrySetResult(true)))
                    {
                        await tcs.Task;
                    }
                    Interlocked.Increment(ref HangCancelled);
                })
                .Build();
        }
    }

    /// <summary>An in-process server with the test service on 127.0.0.1 and a channel to it.</summary>
    sealed class Loopback : IDisposable
    {
        internal readonly Server Server;
        internal readonly Channel Channel;
        internal readonly CallInvoker Invoker;
        internal readonly int Port;

        internal Loopback(ServerServiceDefinition service = null, ServerCredentials serverCredentials = null,
                          ChannelCredentials channelCredentials = null, ChannelOption[] channelOptions = null,
                          ChannelOption[] serverOptions = null)
        {
            Server = new Server(serverOptions);
            Server.Services.Add(service ?? Svc.Definition());
            Port = Server.Ports.Add("127.0.0.1", ServerPort.PickUnused, serverCredentials ?? ServerCredentials.Insecure);
            Server.Start();
            Channel = new Channel("127.0.0.1:" + Port, channelCredentials ?? ChannelCredentials.Insecure, channelOptions);
            Invoker = Channel.CreateCallInvoker();
        }

        public void Dispose()
        {
            Assert.IsTrue(Channel.ShutdownAsync().Wait(5000), "channel shutdown took over 5 s");
            Assert.IsTrue(Server.KillAsync().Wait(5000), "server shutdown took over 5 s");
        }
    }
}
