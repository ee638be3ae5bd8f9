// grpc.testing.TestService interop client on the polyrpc C# binding (PolyRpc.Core), with the
// messages as proto3 JSON through a DescriptorPool. Every case of conformance/cases.json.
//
// Usage: mono PolyRpcInteropClient.exe --server_host=H --server_port=N --test_case=NAME
//     [--use_tls=true --use_test_ca=true --server_host_override=foo.test.google.fr] [--cert_dir=DIR]
// Exit status: 0 the case passed; 1 it failed (one line on stderr says why); 2 the case is not
// supported by this client ("unsupported test case: NAME").
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using PolyRpc.Core;
using PolyRpc.Core.Internal;

namespace PolyRpc.Interop
{
    sealed class CaseFailed : Exception
    {
        internal CaseFailed(string message) : base(message) { }
    }

    sealed class Client
    {
        static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
        const string EchoInitialKey = "x-grpc-test-echo-initial";
        const string EchoTrailingKey = "x-grpc-test-echo-trailing-bin";

        readonly Dictionary<string, string> flags;
        readonly TestService svc;
        internal Channel Channel;
        internal CallInvoker Invoker;

        Client(Dictionary<string, string> flags)
        {
            this.flags = flags;
            svc = new TestService();
            Channel = MakeChannel(new ChannelOption[0]);
            Invoker = Channel.CreateCallInvoker();
        }

        Channel MakeChannel(IEnumerable<ChannelOption> extra)
        {
            var options = new List<ChannelOption>(extra);
            string target = flags["server_host"] + ":" + flags["server_port"];
            string host = flags["server_host_override"];
            if (host != "") options.Add(new ChannelOption(ChannelOptions.DefaultAuthority, host));
            if (!Flags.Bool(flags, "use_tls")) return new Channel(target, ChannelCredentials.Insecure, options);
            if (host != "") options.Add(new ChannelOption(ChannelOptions.SslTargetNameOverride, host));
            string root = null;
            if (Flags.Bool(flags, "use_test_ca")) root = File.ReadAllText(Path.Combine(flags["cert_dir"], "ca.pem"));
            return new Channel(target, new SslCredentials(root), options);
        }

        static CallOptions Opts(Metadata headers = null)
        {
            return new CallOptions(headers: headers, deadline: DateTime.UtcNow + Timeout);
        }

        static void Check(bool cond, string message)
        {
            if (!cond) throw new CaseFailed(message);
        }

        static void ExpectCode(RpcException e, StatusCode code, string what)
        {
            Check(e.StatusCode == code, what + ": expected " + code + ", got " + e.StatusCode + " (" + e.Status.Detail + ")");
        }

        static RpcException Fails(Func<Task> f, string what)
        {
            try
            {
                f().Wait();
            }
            catch (AggregateException ae)
            {
                var e = ae.InnerException as RpcException;
                if (e != null) return e;
                throw ae.InnerException;
            }
            throw new CaseFailed(what + ": call succeeded but was expected to fail");
        }

        static void ExpectPayload(string json, long size, string what)
        {
            var r = Json.Parse(json);
            var type = Json.Str(r, "payload", "type");
            Check(type == null || type == "COMPRESSABLE", what + ": payload type " + type);
            var body = Convert.FromBase64String(Json.Str(r, "payload", "body") ?? "");
            Check(body.Length == size, what + ": payload size " + body.Length + ", want " + size);
            Check(body.All(b => b == 0), what + ": payload is not all zero bytes");
        }

        static string SimpleRequest(long responseSize, long payloadSize, string extra = "")
        {
            return "{\"responseType\":\"COMPRESSABLE\",\"responseSize\":" + responseSize + ",\"payload\":" +
                   Payloads.Zeros(payloadSize) + extra + "}";
        }

        static string LargeRequest(string extra = "") { return SimpleRequest(314159, 271828, extra); }

        static string StreamingRequest(IEnumerable<long> sizes, long payloadSize = -1, string extra = "")
        {
            var ps = string.Join(",", sizes.Select(s => "{\"size\":" + s + "}"));
            return "{\"responseType\":\"COMPRESSABLE\",\"responseParameters\":[" + ps + "]" +
                   (payloadSize >= 0 ? ",\"payload\":" + Payloads.Zeros(payloadSize) : "") + extra + "}";
        }

        static async Task<string> Next(IAsyncStreamReader<string> stream, string what)
        {
            if (!await stream.MoveNext()) throw new CaseFailed(what + ": stream ended early");
            return stream.Current;
        }

        static async Task ExpectEnd(IAsyncStreamReader<string> stream, string what)
        {
            bool more;
            try
            {
                more = await stream.MoveNext();
            }
            catch (RpcException e)
            {
                throw new CaseFailed(what + ": ended with " + e.StatusCode + " (" + e.Status.Detail + ")");
            }
            Check(!more, what + ": unexpected extra response");
        }

        // ---- gRPC's cases (doc/interop-test-descriptions.md) ----

        async Task EmptyUnary()
        {
            var response = await Invoker.AsyncUnaryCall(svc.EmptyCall, null, Opts(), "{}");
            Check(Json.Object(response).Count == 0, "response is not empty: " + response);
        }

        async Task LargeUnary()
        {
            ExpectPayload(await Invoker.AsyncUnaryCall(svc.UnaryCall, null, Opts(), LargeRequest()), 314159, "UnaryCall");
            // The blocking variant too.
            ExpectPayload(Invoker.BlockingUnaryCall(svc.UnaryCall, null, Opts(), LargeRequest()), 314159, "blocking UnaryCall");
        }

        async Task ClientStreaming()
        {
            using (var call = Invoker.AsyncClientStreamingCall(svc.StreamingInputCall, null, Opts()))
            {
                foreach (var n in new[] { 27182, 8, 1828, 45904 })
                    await call.RequestStream.WriteAsync("{\"payload\":" + Payloads.Zeros(n) + "}");
                await call.RequestStream.CompleteAsync();
                var r = Json.Parse(await call);
                Check(Json.Int(r, "aggregatedPayloadSize") == 74922, "aggregated_payload_size " + Json.Int(r, "aggregatedPayloadSize"));
            }
        }

        async Task ServerStreaming()
        {
            var sizes = new long[] { 31415, 9, 2653, 58979 };
            using (var call = Invoker.AsyncServerStreamingCall(svc.StreamingOutputCall, null, Opts(), StreamingRequest(sizes)))
            {
                var responses = await call.ResponseStream.ToListAsync();
                Check(responses.Count == sizes.Length, "got " + responses.Count + " responses");
                for (int i = 0; i < sizes.Length; i++) ExpectPayload(responses[i], sizes[i], "response " + i);
                Check(call.GetStatus().StatusCode == StatusCode.OK, "status " + call.GetStatus());
            }
        }

        static readonly long[][] PingPongSizes = { new long[] { 31415, 27182 }, new long[] { 9, 8 }, new long[] { 2653, 1828 }, new long[] { 58979, 45904 } };

        async Task PingPong()
        {
            using (var call = Invoker.AsyncDuplexStreamingCall(svc.FullDuplexCall, null, Opts()))
            {
                for (int i = 0; i < PingPongSizes.Length; i++)
                {
                    await call.RequestStream.WriteAsync(StreamingRequest(new[] { PingPongSizes[i][0] }, PingPongSizes[i][1]));
                    ExpectPayload(await Next(call.ResponseStream, "round " + i), PingPongSizes[i][0], "round " + i);
                }
                await call.RequestStream.CompleteAsync();
                await ExpectEnd(call.ResponseStream, "FullDuplexCall");
            }
        }

        async Task EmptyStream()
        {
            using (var call = Invoker.AsyncDuplexStreamingCall(svc.FullDuplexCall, null, Opts()))
            {
                await call.RequestStream.CompleteAsync();
                await ExpectEnd(call.ResponseStream, "FullDuplexCall");
            }
        }

        Task CancelAfterBegin()
        {
            using (var cts = new CancellationTokenSource())
            {
                var call = Invoker.AsyncClientStreamingCall(svc.StreamingInputCall, null,
                                                            Opts().WithCancellationToken(cts.Token));
                cts.Cancel();
                var e = Fails(() => call.ResponseAsync, "StreamingInputCall");
                ExpectCode(e, StatusCode.Cancelled, "StreamingInputCall");
                call.Dispose();
            }
            return Task.FromResult(0);
        }

        async Task CancelAfterFirstResponse()
        {
            var call = Invoker.AsyncDuplexStreamingCall(svc.FullDuplexCall, null, Opts());
            await call.RequestStream.WriteAsync(StreamingRequest(new long[] { 31415 }, 27182));
            ExpectPayload(await Next(call.ResponseStream, "first"), 31415, "first response");
            call.Dispose(); // cancels
            var e = Fails(() => call.ResponseStream.MoveNext(), "FullDuplexCall after cancel");
            ExpectCode(e, StatusCode.Cancelled, "FullDuplexCall");
        }

        async Task TimeoutOnSleepingServer()
        {
            using (var call = Invoker.AsyncDuplexStreamingCall(svc.FullDuplexCall, null,
                       new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(1))))
            {
                try
                {
                    await call.RequestStream.WriteAsync("{\"payload\":" + Payloads.Zeros(27182) + "}");
                }
                catch (RpcException)
                {
                    // The deadline may already have ended the call.
                }
                var e = Fails(() => call.ResponseStream.MoveNext(), "FullDuplexCall with a 1 ms deadline");
                ExpectCode(e, StatusCode.DeadlineExceeded, "FullDuplexCall");
            }
        }

        static void CheckEcho(Metadata headers, Metadata trailers, string initial, byte[] trailing, string what)
        {
            var got = headers.GetAll(EchoInitialKey).Select(e => e.Value).ToList();
            Check(got.Count == 1 && got[0] == initial, what + ": initial metadata echo [" + string.Join(", ", got) + "]");
            var gotT = trailers.GetAll(EchoTrailingKey).Select(e => e.ValueBytes).ToList();
            Check(gotT.Count == 1 && gotT[0].SequenceEqual(trailing),
                  what + ": trailing metadata echo " + (gotT.Count == 1 ? BitConverter.ToString(gotT[0]) : gotT.Count + " values"));
        }

        async Task MetadataEchoCase(string initial, byte[] trailing, string unary, string duplex, long unarySize, long duplexSize)
        {
            var md = new Metadata { { EchoInitialKey, initial }, { EchoTrailingKey, trailing } };
            var call = Invoker.AsyncUnaryCall(svc.UnaryCall, null, Opts(md), unary);
            ExpectPayload(await call, unarySize, "UnaryCall");
            CheckEcho(await call.ResponseHeadersAsync, call.GetTrailers(), initial, trailing, "UnaryCall");
            using (var d = Invoker.AsyncDuplexStreamingCall(svc.FullDuplexCall, null, Opts(md)))
            {
                await d.RequestStream.WriteAsync(duplex);
                ExpectPayload(await Next(d.ResponseStream, "FullDuplexCall"), duplexSize, "FullDuplexCall");
                await d.RequestStream.CompleteAsync();
                await ExpectEnd(d.ResponseStream, "FullDuplexCall");
                CheckEcho(await d.ResponseHeadersAsync, d.GetTrailers(), initial, trailing, "FullDuplexCall");
            }
        }

        Task CustomMetadata()
        {
            return MetadataEchoCase("test_initial_metadata_value", new byte[] { 0x0a, 0x0b, 0x0a, 0x0b, 0x0a, 0x0b },
                                    LargeRequest(), StreamingRequest(new long[] { 314159 }, 271828), 314159, 314159);
        }

        async Task StatusEcho(string message, bool withDuplex)
        {
            string status = ",\"responseStatus\":{\"code\":2,\"message\":" + Json.Q(message) + "}";
            var e = Fails(() => Invoker.AsyncUnaryCall(svc.UnaryCall, null, Opts(), SimpleRequest(1, 1, status)).ResponseAsync, "UnaryCall");
            ExpectCode(e, StatusCode.Unknown, "UnaryCall");
            Check(e.Status.Detail == message, "UnaryCall: message " + Json.Q(e.Status.Detail));
            if (!withDuplex) return;
            using (var d = Invoker.AsyncDuplexStreamingCall(svc.FullDuplexCall, null, Opts()))
            {
                await d.RequestStream.WriteAsync(StreamingRequest(new long[] { 1 }, 1, status));
                await d.RequestStream.CompleteAsync();
                var e2 = Fails(async () => { while (await d.ResponseStream.MoveNext()) { } }, "FullDuplexCall");
                ExpectCode(e2, StatusCode.Unknown, "FullDuplexCall");
                Check(e2.Status.Detail == message, "FullDuplexCall: message " + Json.Q(e2.Status.Detail));
            }
        }

        Task StatusCodeAndMessage() { return StatusEcho("test status message", true); }

        Task SpecialStatusMessage()
        {
            return StatusEcho("\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n", false);
        }

        Task UnimplementedMethod()
        {
            var e = Fails(() => Invoker.AsyncUnaryCall(svc.UnimplementedCall, null, Opts(), "{}").ResponseAsync, "UnimplementedCall");
            ExpectCode(e, StatusCode.Unimplemented, "UnimplementedCall");
            return Task.FromResult(0);
        }

        Task UnimplementedService()
        {
            var e = Fails(() => Invoker.AsyncUnaryCall(svc.UnimplementedServiceCall, null, Opts(), "{}").ResponseAsync,
                          "UnimplementedService");
            ExpectCode(e, StatusCode.Unimplemented, "UnimplementedService.UnimplementedCall");
            return Task.FromResult(0);
        }

        static Metadata Gzip()
        {
            // Grpc.Core's way of asking for a compressed call.
            return new Metadata { { "grpc-internal-encoding-request", "gzip" } };
        }

        async Task ClientCompressedUnary()
        {
            var probe = LargeRequest(",\"expectCompressed\":{\"value\":true}");
            var e = Fails(() => Invoker.AsyncUnaryCall(svc.UnaryCall, null, Opts(), probe).ResponseAsync, "probe");
            ExpectCode(e, StatusCode.InvalidArgument, "probe (uncompressed, expect_compressed)");
            ExpectPayload(await Invoker.AsyncUnaryCall(svc.UnaryCall, null, Opts(Gzip()), probe), 314159, "compressed request");
            var plain = LargeRequest(",\"expectCompressed\":{\"value\":false}");
            ExpectPayload(await Invoker.AsyncUnaryCall(svc.UnaryCall, null, Opts(), plain), 314159, "uncompressed request");
        }

        async Task ServerCompressedUnary()
        {
            foreach (var compressed in new[] { true, false })
            {
                var r = LargeRequest(",\"responseCompressed\":{\"value\":" + (compressed ? "true" : "false") + "}");
                ExpectPayload(await Invoker.AsyncUnaryCall(svc.UnaryCall, null, Opts(), r), 314159,
                              "response_compressed=" + compressed);
            }
        }

        async Task ClientCompressedStreaming()
        {
            Func<int, bool, string> request = (size, expect) =>
                "{\"payload\":" + Payloads.Zeros(size) + ",\"expectCompressed\":{\"value\":" + (expect ? "true" : "false") + "}}";
            // Probe: an uncompressed message that claims expect_compressed must be refused.
            using (var probe = Invoker.AsyncClientStreamingCall(svc.StreamingInputCall, null, Opts()))
            {
                try
                {
                    await probe.RequestStream.WriteAsync(request(27182, true));
                    await probe.RequestStream.CompleteAsync();
                }
                catch (RpcException)
                {
                    // The server may refuse before the stream is complete.
                }
                var e = Fails(() => probe.ResponseAsync, "probe");
                ExpectCode(e, StatusCode.InvalidArgument, "probe");
            }
            using (var call = Invoker.AsyncClientStreamingCall(svc.StreamingInputCall, null, Opts(Gzip())))
            {
                await call.RequestStream.WriteAsync(request(27182, true));
                call.RequestStream.WriteOptions = new WriteOptions(WriteFlags.NoCompress);
                await call.RequestStream.WriteAsync(request(45904, false));
                await call.RequestStream.CompleteAsync();
                var r = Json.Parse(await call);
                Check(Json.Int(r, "aggregatedPayloadSize") == 73086, "aggregated_payload_size " + Json.Int(r, "aggregatedPayloadSize"));
            }
        }

        async Task ServerCompressedStreaming()
        {
            var req = "{\"responseType\":\"COMPRESSABLE\",\"responseParameters\":[{\"size\":31415,\"compressed\":{\"value\":true}}," +
                      "{\"size\":92653,\"compressed\":{\"value\":false}}]}";
            using (var call = Invoker.AsyncServerStreamingCall(svc.StreamingOutputCall, null, Opts(), req))
            {
                var responses = await call.ResponseStream.ToListAsync();
                Check(responses.Count == 2, "got " + responses.Count + " responses");
                ExpectPayload(responses[0], 31415, "response 0");
                ExpectPayload(responses[1], 92653, "response 1");
            }
        }

        // ---- polyrpc's cases (conformance/cases.json) ----

        Task MetadataBinaryUnicode()
        {
            string initial = "polyrpc ~!#$%&'()*+,-./:;<=>?@[\\]^_`{|}";
            var trailing = Enumerable.Range(0, 256).Select(i => (byte)i)
                .Concat(Encoding.UTF8.GetBytes("h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c\u8a9e \U0001f680")).ToArray();
            return MetadataEchoCase(initial, trailing, SimpleRequest(1, 1), StreamingRequest(new long[] { 1 }), 1, 1);
        }

        async Task LargeMessage4Mib()
        {
            const long size = 4194240;
            ExpectPayload(await Invoker.AsyncUnaryCall(svc.UnaryCall, null, Opts(), SimpleRequest(size, size)), size, "UnaryCall");
        }

        async Task ConcurrentStreams()
        {
            var unary = Enumerable.Range(0, 100)
                .Select(i => Invoker.AsyncUnaryCall(svc.UnaryCall, null, Opts(), SimpleRequest(i + 1, 1))).ToList();
            var streams = Enumerable.Range(0, 8)
                .Select(i => Invoker.AsyncServerStreamingCall(svc.StreamingOutputCall, null, Opts(),
                                                              StreamingRequest(new long[] { 10, 10, 10, 10, 10 }))).ToList();
            var errors = new List<string>();
            var drained = streams.Select(async (s, i) =>
            {
                try
                {
                    var got = await s.ResponseStream.ToListAsync();
                    if (got.Count != 5) lock (errors) errors.Add("stream " + i + ": " + got.Count + " responses");
                    foreach (var r in got) ExpectPayload(r, 10, "stream " + i);
                }
                catch (Exception e)
                {
                    lock (errors) errors.Add("stream " + i + ": " + e.Message);
                }
            }).ToList();
            for (int i = 0; i < unary.Count; i++)
            {
                try
                {
                    ExpectPayload(await unary[i], i + 1, "unary " + i);
                }
                catch (Exception e)
                {
                    lock (errors) errors.Add("unary " + i + ": " + e.Message);
                }
            }
            Check(Task.WhenAll(drained).Wait(Timeout), "a streaming call did not finish");
            Check(errors.Count == 0, string.Join("; ", errors.Take(5)));
        }

        async Task DeadlinePropagation()
        {
            var md = new Metadata { { "x-polyrpc-echo-deadline", "1" } };
            var call = Invoker.AsyncUnaryCall(svc.UnaryCall, null, new CallOptions(md, DateTime.UtcNow.AddSeconds(5)), SimpleRequest(1, 1));
            await call;
            var values = call.GetTrailers().GetAll("x-polyrpc-time-remaining-ms").Select(e => e.Value).ToList();
            Check(values.Count == 1, "(a) trailing x-polyrpc-time-remaining-ms: " + values.Count + " values");
            long remaining;
            Check(long.TryParse(values[0], out remaining), "(a) x-polyrpc-time-remaining-ms is not an integer: " + values[0]);
            Check(remaining > 0 && remaining <= 5000, "(a) remaining " + remaining + " ms not in (0, 5000]");

            var req = "{\"responseType\":\"COMPRESSABLE\",\"responseParameters\":[" +
                      string.Join(",", Enumerable.Repeat("{\"size\":1,\"intervalUs\":200000}", 10)) + "]}";
            var sw = Stopwatch.StartNew();
            int received = 0;
            using (var s = Invoker.AsyncServerStreamingCall(svc.StreamingOutputCall, null,
                       new CallOptions(deadline: DateTime.UtcNow.AddSeconds(1)), req))
            {
                var e = Fails(async () => { while (await s.ResponseStream.MoveNext()) received++; },
                              "(b) StreamingOutputCall");
                ExpectCode(e, StatusCode.DeadlineExceeded, "(b) StreamingOutputCall");
            }
            Check(received >= 1 && received < 10, "(b) received " + received + " responses");
            Check(sw.Elapsed.TotalSeconds < 3, "(b) took " + sw.Elapsed.TotalSeconds + " s");
        }

        async Task MaxMessageSize()
        {
            var small = MakeChannel(new[] { new ChannelOption(ChannelOptions.MaxReceiveMessageLength, 1024 * 1024) });
            try
            {
                var inv = small.CreateCallInvoker();
                var e = Fails(() => inv.AsyncUnaryCall(svc.UnaryCall, null, Opts(),
                                  "{\"responseType\":\"COMPRESSABLE\",\"responseSize\":2097152}").ResponseAsync, "(a)");
                ExpectCode(e, StatusCode.ResourceExhausted, "(a) 2 MiB response, 1 MiB limit");
            }
            finally
            {
                await small.ShutdownAsync();
            }
            var e2 = Fails(() => Invoker.AsyncUnaryCall(svc.UnaryCall, null, Opts(), SimpleRequest(1, 5242880)).ResponseAsync, "(b)");
            ExpectCode(e2, StatusCode.ResourceExhausted, "(b) 5 MiB request");
            ExpectPayload(await Invoker.AsyncUnaryCall(svc.UnaryCall, null, Opts(), SimpleRequest(10, 10)), 10, "(c) small call");
        }

        async Task CompressionUnsupported()
        {
            // The conformance hook: label the compressed request with an encoding nobody has.
            TestHooks.EncodingLabel = "x-polyrpc-unknown";
            try
            {
                var e = Fails(() => Invoker.AsyncUnaryCall(svc.UnaryCall, null, Opts(Gzip()), SimpleRequest(1, 100)).ResponseAsync,
                              "UnaryCall with an unknown grpc-encoding");
                ExpectCode(e, StatusCode.Unimplemented, "UnaryCall with an unknown grpc-encoding");
            }
            finally
            {
                TestHooks.EncodingLabel = null;
            }
            await Task.Yield();
        }

        async Task CancelMidBidi()
        {
            var call = Invoker.AsyncDuplexStreamingCall(svc.FullDuplexCall, null, Opts());
            for (int i = 0; i < 2; i++)
            {
                await call.RequestStream.WriteAsync(StreamingRequest(new[] { PingPongSizes[i][0] }, PingPongSizes[i][1]));
                ExpectPayload(await Next(call.ResponseStream, "round " + i), PingPongSizes[i][0], "round " + i);
            }
            call.Dispose();
            var e = Fails(() => call.ResponseStream.MoveNext(), "FullDuplexCall after cancel");
            ExpectCode(e, StatusCode.Cancelled, "FullDuplexCall");
            ExpectPayload(await Invoker.AsyncUnaryCall(svc.UnaryCall, null, Opts(), SimpleRequest(1, 0)), 1, "UnaryCall after cancel");
        }

        async Task ServerClosesConnection()
        {
            var req = "{\"responseType\":\"COMPRESSABLE\",\"responseParameters\":[" +
                      string.Join(",", Enumerable.Repeat("{\"size\":10,\"intervalUs\":100000}", 4)) + "]}";
            var md = new Metadata { { "x-polyrpc-close-connection", "1" } };
            var sw = Stopwatch.StartNew();
            int received = 0;
            using (var s = Invoker.AsyncServerStreamingCall(svc.StreamingOutputCall, null, Opts(md), req))
            {
                var e = Fails(async () =>
                {
                    while (await s.ResponseStream.MoveNext())
                    {
                        ExpectPayload(s.ResponseStream.Current, 10, "response " + received);
                        received++;
                    }
                }, "StreamingOutputCall (connection not closed)");
                ExpectCode(e, StatusCode.Unavailable, "StreamingOutputCall");
            }
            Check(received >= 1, "no response before the connection closed");
            Check(sw.Elapsed.TotalSeconds < 5, "UNAVAILABLE took " + sw.Elapsed.TotalSeconds + " s");
            var again = Opts().WithWaitForReady();
            string reply;
            try
            {
                reply = await Invoker.AsyncUnaryCall(svc.UnaryCall, null, again, SimpleRequest(1, 0));
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
            {
                // A call written to the dying connection: retried once, as cases.json allows.
                reply = await Invoker.AsyncUnaryCall(svc.UnaryCall, null, Opts().WithWaitForReady(), SimpleRequest(1, 0));
            }
            ExpectPayload(reply, 1, "UnaryCall after reconnect");
        }

        Dictionary<string, Func<Task>> Cases()
        {
            return new Dictionary<string, Func<Task>>
            {
                { "empty_unary", EmptyUnary }, { "large_unary", LargeUnary }, { "client_streaming", ClientStreaming },
                { "server_streaming", ServerStreaming }, { "ping_pong", PingPong }, { "empty_stream", EmptyStream },
                { "cancel_after_begin", CancelAfterBegin }, { "cancel_after_first_response", CancelAfterFirstResponse },
                { "timeout_on_sleeping_server", TimeoutOnSleepingServer }, { "custom_metadata", CustomMetadata },
                { "status_code_and_message", StatusCodeAndMessage }, { "special_status_message", SpecialStatusMessage },
                { "unimplemented_method", UnimplementedMethod }, { "unimplemented_service", UnimplementedService },
                { "client_compressed_unary", ClientCompressedUnary }, { "server_compressed_unary", ServerCompressedUnary },
                { "client_compressed_streaming", ClientCompressedStreaming },
                { "server_compressed_streaming", ServerCompressedStreaming },
                { "metadata_binary_unicode", MetadataBinaryUnicode }, { "large_message_4mib", LargeMessage4Mib },
                { "concurrent_streams", ConcurrentStreams }, { "deadline_propagation", DeadlinePropagation },
                { "max_message_size", MaxMessageSize }, { "compression_unsupported", CompressionUnsupported },
                { "cancel_mid_bidi", CancelMidBidi }, { "server_closes_connection", ServerClosesConnection },
            };
        }

        static int Main(string[] args)
        {
            var flags = Flags.Parse(args, new Dictionary<string, string>
            {
                { "server_host", "localhost" }, { "server_port", "0" }, { "server_host_override", "" },
                { "test_case", "" }, { "use_tls", "false" }, { "use_test_ca", "false" },
                { "cert_dir", Flags.DefaultCertDir() },
            });
            string name = flags["test_case"];
            int port;
            if (!int.TryParse(flags["server_port"], out port) || port <= 0)
            {
                Console.Error.WriteLine("--server_port=N is required");
                return 2;
            }
            var client = new Client(flags);
            Func<Task> run;
            if (!client.Cases().TryGetValue(name, out run))
            {
                Console.Error.WriteLine("unsupported test case: " + name);
                return 2;
            }
            try
            {
                var task = run();
                // Below the driver's 30 s, so that a hang is reported with what was still live.
                if (!task.Wait(TimeSpan.FromSeconds(25)))
                    throw new CaseFailed("the case did not finish within 25 s; live native objects: " + NativeStats.Describe());
                return 0;
            }
            catch (Exception e)
            {
                var inner = e is AggregateException && ((AggregateException)e).InnerExceptions.Count == 1 ? e.InnerException : e;
                var rpc = inner as RpcException;
                if (inner is CaseFailed) Console.Error.WriteLine(name + " failed: " + inner.Message);
                else if (rpc != null) Console.Error.WriteLine(name + " failed: unexpected " + rpc.StatusCode + " (" + rpc.Status.Detail + ")");
                else Console.Error.WriteLine(name + " failed: " + inner.GetType().Name + ": " + inner);
                return 1;
            }
            finally
            {
                client.Channel.ShutdownAsync().Wait(5000);
            }
        }
    }
}
