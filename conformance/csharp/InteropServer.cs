// grpc.testing.TestService interop server on the polyrpc C# binding (PolyRpc.Core), with the
// messages as proto3 JSON through a DescriptorPool.
//
// Usage: mono PolyRpcInteropServer.exe --port=N [--use_tls=true] [--cert_dir=DIR] [--bind=ADDRESS]
//                                      [--server_id=ID]
// Listens on 127.0.0.1 unless --bind names another address ("::" or "0.0.0.0": every interface).
// Answers fill_server_id with server_id and the machine's hostname, as grpc-go's interop server
// does (its pick_first_unary case needs them).
// Behaviour follows gRPC's interop-test-descriptions.md (with the expect_compressed checks, which
// polyrpc can make: ServerCallContext.LastRequestCompressed()) plus polyrpc's hooks:
// x-polyrpc-echo-deadline (trailer x-polyrpc-time-remaining-ms) and x-polyrpc-close-connection
// (drop the TCP connection after the first streamed response). Runs until killed (SIGTERM).
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using PolyRpc.Core;

namespace PolyRpc.Interop
{
    static class InteropServer
    {
        const string EchoInitialKey = "x-grpc-test-echo-initial";
        const string EchoTrailingKey = "x-grpc-test-echo-trailing-bin";
        const string EchoDeadlineKey = "x-polyrpc-echo-deadline";
        const string TimeRemainingKey = "x-polyrpc-time-remaining-ms";
        const string CloseConnectionKey = "x-polyrpc-close-connection";

        /// <summary>Echoes request metadata as the interop doc asks; true if the close-connection
        /// hook was requested.</summary>
        static async Task<bool> StartCall(ServerCallContext context)
        {
            var initial = new Metadata();
            bool close = false;
            foreach (var e in context.RequestHeaders)
            {
                if (e.Key == EchoInitialKey) initial.Add(e);
                else if (e.Key == EchoTrailingKey) context.ResponseTrailers.Add(e);
                else if (e.Key == EchoDeadlineKey && !e.IsBinary && e.Value == "1")
                {
                    // Monotonic: Deadline - DateTime.UtcNow moves with the wall clock.
                    TimeSpan? left = context.TimeRemaining();
                    long ms = left.HasValue ? (long)left.Value.TotalMilliseconds : -1;
                    context.ResponseTrailers.Add(TimeRemainingKey, ms.ToString());
                }
                else if (e.Key == CloseConnectionKey && !e.IsBinary && e.Value == "1") close = true;
            }
            if (initial.Count > 0) await context.WriteResponseHeadersAsync(initial);
            return close;
        }

        static void MaybeAbort(object request)
        {
            long code = Json.Int(request, "responseStatus", "code");
            if (code != 0)
                throw new RpcException(new Status((StatusCode)code, Json.Str(request, "responseStatus", "message") ?? ""));
        }

        static void CheckCompressed(object request, ServerCallContext context)
        {
            if (Json.Bool(request, "expectCompressed", "value") && !context.LastRequestCompressed())
                throw new RpcException(new Status(StatusCode.InvalidArgument, "expected a compressed request"));
        }

        static string Payload(long size) { return "{\"payload\":" + Payloads.Zeros(size) + "}"; }

        static string serverId = "polyrpc-csharp";  // --server_id, for fill_server_id

        /// <summary>Sleeps unless the call ends first; false when the call is gone.</summary>
        static async Task<bool> SleepUs(long intervalUs, ServerCallContext context)
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(intervalUs / 1000.0), context.CancellationToken);
                return true;
            }
            catch (TaskCanceledException)
            {
                return false;
            }
        }

        static async Task<string> EmptyCall(string request, ServerCallContext context)
        {
            await StartCall(context);
            return "{}";
        }

        static async Task<string> UnaryCall(string json, ServerCallContext context)
        {
            var request = Json.Parse(json);
            CheckCompressed(request, context);
            if (Json.Get(request, "responseCompressed") != null)
            {
                if (Json.Bool(request, "responseCompressed", "value")) context.SetResponseCompression("gzip");
                else context.WriteOptions = new WriteOptions(WriteFlags.NoCompress);
            }
            await StartCall(context);
            MaybeAbort(request);
            if (!Json.Bool(request, "fillServerId")) return Payload(Json.Int(request, "responseSize"));
            return "{\"payload\":" + Payloads.Zeros(Json.Int(request, "responseSize")) +
                   ",\"serverId\":" + Json.Q(serverId) +
                   ",\"hostname\":" + Json.Q(System.Net.Dns.GetHostName()) + "}";
        }

        static async Task StreamingOutputCall(string json, IServerStreamWriter<string> responses, ServerCallContext context)
        {
            var request = Json.Parse(json);
            var parameters = Json.List(request, "responseParameters");
            bool anyCompressed = parameters.Any(p => Json.Bool(p, "compressed", "value"));
            if (anyCompressed) context.SetResponseCompression("gzip");
            bool close = await StartCall(context);
            for (int i = 0; i < parameters.Count; i++)
            {
                var p = parameters[i];
                long interval = Json.Int(p, "intervalUs");
                if (interval > 0 && !await SleepUs(interval, context)) return;
                responses.WriteOptions = anyCompressed && !Json.Bool(p, "compressed", "value")
                    ? new WriteOptions(WriteFlags.NoCompress) : null;
                await responses.WriteAsync(Payload(Json.Int(p, "size")));
                if (close && i == 0)
                {
                    ((PolyRpcServerCallContext)context).Call.CloseConnectionForTesting();
                    return;
                }
            }
            MaybeAbort(request);
        }

        static async Task<string> StreamingInputCall(IAsyncStreamReader<string> requests, ServerCallContext context)
        {
            await StartCall(context);
            long total = 0;
            while (await requests.MoveNext(CancellationToken.None))
            {
                var r = Json.Parse(requests.Current);
                CheckCompressed(r, context);
                total += Payloads.Base64Length(Json.Str(r, "payload", "body"));
            }
            return "{\"aggregatedPayloadSize\":" + total + "}";
        }

        static async Task Respond(object request, IServerStreamWriter<string> responses, ServerCallContext context)
        {
            foreach (var p in Json.List(request, "responseParameters"))
            {
                long interval = Json.Int(p, "intervalUs");
                if (interval > 0 && !await SleepUs(interval, context)) return;
                await responses.WriteAsync(Payload(Json.Int(p, "size")));
            }
        }

        static async Task FullDuplexCall(IAsyncStreamReader<string> requests, IServerStreamWriter<string> responses,
                                         ServerCallContext context)
        {
            await StartCall(context);
            while (await requests.MoveNext(CancellationToken.None))
            {
                var r = Json.Parse(requests.Current);
                MaybeAbort(r);
                await Respond(r, responses, context);
            }
        }

        static async Task HalfDuplexCall(IAsyncStreamReader<string> requests, IServerStreamWriter<string> responses,
                                         ServerCallContext context)
        {
            await StartCall(context);
            var all = new List<object>();
            while (await requests.MoveNext(CancellationToken.None)) all.Add(Json.Parse(requests.Current));
            foreach (var r in all) MaybeAbort(r);
            foreach (var r in all) await Respond(r, responses, context);
        }

        static int Main(string[] args)
        {
            var flags = Flags.Parse(args, new Dictionary<string, string>
            {
                { "port", "0" }, { "use_tls", "false" }, { "cert_dir", Flags.DefaultCertDir() },
                { "bind", "127.0.0.1" }, { "server_id", serverId },
            });
            serverId = flags["server_id"];
            string host = flags["bind"].Contains(":") ? "[" + flags["bind"] + "]" : flags["bind"];
            int port = int.Parse(flags["port"]);
            if (port <= 0)
            {
                Console.Error.WriteLine("--port=N is required");
                return 2;
            }
            var svc = new TestService();
            var definition = ServerServiceDefinition.CreateBuilder()
                .AddMethod(svc.EmptyCall, (UnaryServerMethod<string, string>)EmptyCall)
                .AddMethod(svc.UnaryCall, (UnaryServerMethod<string, string>)UnaryCall)
                .AddMethod(svc.CacheableUnaryCall, (UnaryServerMethod<string, string>)UnaryCall)
                .AddMethod(svc.StreamingOutputCall, (ServerStreamingServerMethod<string, string>)StreamingOutputCall)
                .AddMethod(svc.StreamingInputCall, (ClientStreamingServerMethod<string, string>)StreamingInputCall)
                .AddMethod(svc.FullDuplexCall, (DuplexStreamingServerMethod<string, string>)FullDuplexCall)
                .AddMethod(svc.HalfDuplexCall, (DuplexStreamingServerMethod<string, string>)HalfDuplexCall)
                .Build();
            var server = new Server();
            server.Services.Add(definition);
            bool tls = Flags.Bool(flags, "use_tls");
            ServerCredentials creds = ServerCredentials.Insecure;
            if (tls)
            {
                var dir = flags["cert_dir"];
                creds = new SslServerCredentials(new[]
                {
                    new KeyCertificatePair(File.ReadAllText(Path.Combine(dir, "server.pem")),
                                           File.ReadAllText(Path.Combine(dir, "server.key"))),
                });
            }
            int bound;
            try
            {
                bound = server.Ports.Add(host, port, creds);
            }
            catch (Exception e)
            {
                Console.Error.WriteLine(e.Message);
                return 1;
            }
            if (bound != port)
            {
                Console.Error.WriteLine("could not bind port " + port);
                return 1;
            }
            server.Start();
            Console.Error.WriteLine("polyrpc-csharp interop server listening on " + host + ":" + port + " (tls=" + tls + ")");
            // Serves until the driver's SIGTERM ends the process.
            server.ShutdownTask.Wait();
            return 0;
        }
    }
}
