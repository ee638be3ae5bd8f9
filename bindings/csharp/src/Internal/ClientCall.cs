// One client call on the C ABI, with messages as bytes (the generic layer marshals). Every
// operation goes to the process's completion queue with a GCHandle tag (CompletionQueue.NewTag),
// which also keeps the call's SafeHandle from being destroyed until the operation is back.
//
// recv_status is started with the call and completes when it is over: then the status, trailers
// and headers are read, and the native call is released as soon as nothing else can need it
// (unary: at once; streams: once the responses have been read to the end, or on Dispose).
using System;
using System.Threading;
using System.Threading.Tasks;
using PolyRpc.Native;
using N = PolyRpc.Native.PolyRpcNative;

namespace PolyRpc.Core.Internal
{
    internal sealed class ClientCall
    {
        const uint WriteLast = 2; // POLYRPC_WRITE_LAST
        const uint WaitForReady = 1; // POLYRPC_CALL_WAIT_FOR_READY
        // POLYRPC_CALL_ONE_RESPONSE: the method answers one message; an OK without it, or a
        // second one, is UNIMPLEMENTED (gRPC's doc/statuscodes.md).
        const uint OneResponse = 2;
        internal const string CompressionRequestHeader = "grpc-internal-encoding-request";

        readonly CallHandle call;
        readonly CompletionQueue queue;
        readonly object sync = new object();
        readonly TaskCompletionSource<Status> statusTcs =
            new TaskCompletionSource<Status>(TaskCreationOptions.RunContinuationsAsynchronously);
        CancellationTokenRegistration registration;

        // Under sync.
        bool finished;
        bool readsDone;
        bool readPending, writePending, halfClosed;
        bool released;
        Metadata headers, trailers;
        Status status;
        TaskCompletionSource<Metadata> headersTcs;

        ClientCall(CallHandle call, CompletionQueue queue)
        {
            this.call = call;
            this.queue = queue;
        }

        internal Task<Status> StatusTask { get { return statusTcs.Task; } }

        /// <summary>The final status; InvalidOperationException before the call has finished.</summary>
        internal Status GetStatus()
        {
            lock (sync)
            {
                if (!finished) throw new InvalidOperationException("Status can only be accessed once the call has finished.");
                return status;
            }
        }

        /// <summary>The trailers; InvalidOperationException before the call has finished.</summary>
        internal Metadata GetTrailers()
        {
            lock (sync)
            {
                if (!finished) throw new InvalidOperationException("Trailers can only be accessed once the call has finished.");
                return trailers;
            }
        }

        internal Metadata TrailersOrEmpty
        {
            get { lock (sync) return trailers ?? Metadata.Empty; }
        }

        // ---- Creation ------------------------------------------------------------------------

        /// <summary>Creates the native call: headers (with what call credentials add), deadline,
        /// wait-for-ready, compression ("grpc-internal-encoding-request", as Grpc.Core), authority
        /// (host) and bearer tokens. Nothing is sent yet.</summary>
        static CallHandle CreateNative(Channel channel, string method, string host, CallOptions options,
                                       uint flags = 0)
        {
            Metadata headers = options.Headers;
            string compression = null;
            CallCredentials creds = channel.CallCredentials;
            if (options.Credentials != null)
                creds = creds == null ? options.Credentials : CallCredentials.Compose(creds, options.Credentials);
            System.Collections.Generic.List<CallCredentials.BearerCredentials> bearers = null;
            if (creds != null)
            {
                foreach (var part in creds.Parts)
                {
                    var bearer = part as CallCredentials.BearerCredentials;
                    if (bearer != null)
                    {
                        if (bearers == null) bearers = new System.Collections.Generic.List<CallCredentials.BearerCredentials>();
                        bearers.Add(bearer);
                        continue;
                    }
                    var icpt = (CallCredentials.InterceptorCredentials)part;
                    var added = new Metadata();
                    int slash = method.LastIndexOf('/');
                    var context = new AuthInterceptorContext(
                        "https://" + (host ?? channel.Target) + method.Substring(0, slash),
                        method.Substring(slash + 1));
                    try
                    {
                        icpt.Interceptor(context, added).GetAwaiter().GetResult();
                    }
                    catch (Exception e)
                    {
                        throw new RpcException(new Status(StatusCode.Unauthenticated,
                            "Getting metadata from plugin failed with error: " + e.Message, e));
                    }
                    var merged = new Metadata();
                    if (headers != null) foreach (var entry in headers) merged.Add(entry);
                    foreach (var entry in added) merged.Add(entry);
                    headers = merged;
                }
            }
            if (headers != null && headers.Get(CompressionRequestHeader) != null)
            {
                var filtered = new Metadata();
                foreach (var entry in headers)
                {
                    if (entry.Key == CompressionRequestHeader) compression = entry.Value;
                    else filtered.Add(entry);
                }
                headers = filtered;
            }

            CallHandle h;
            using (var md = Metadata.ToNative(headers))
            {
                IntPtr ch = channel.Handle.Use();
                IntPtr m = md == null ? IntPtr.Zero : md.Use();
                try
                {
                    IntPtr p;
                    N.polyrpc_call_create(ch, method, Deadlines.ToTimeoutMs(options.Deadline), m,
                                          flags | (options.IsWaitForReady ? WaitForReady : 0u), out p);
                    h = CallHandle.Wrap(p);
                    h.Label("client " + method);
                }
                catch (NativeException e)
                {
                    throw Errors.Translate(e, "cannot create a call of \"" + method + "\"");
                }
                finally
                {
                    if (md != null) md.Done();
                    channel.Handle.Done();
                }
            }
            IntPtr c = h.Use();
            try
            {
                if (compression != null) N.polyrpc_call_set_compression(c, compression);
                if (host != null) N.polyrpc_call_set_authority(c, host);
                if (bearers != null)
                {
                    foreach (var b in bearers)
                    {
                        using (var native = b.CreateNative())
                        {
                            IntPtr cr = native.Use();
                            try { N.polyrpc_call_set_credentials(c, cr); }
                            finally { native.Done(); }
                        }
                    }
                }
                if (TestHooks.EncodingLabel != null) N.polyrpc_call_set_encoding_label_for_testing(c, TestHooks.EncodingLabel);
            }
            catch (NativeException e)
            {
                h.Done();
                h.Dispose();
                throw Errors.Translate(e, "call options of \"" + method + "\"");
            }
            h.Done();
            return h;
        }

        /// <summary>Starts a call: recv_status (and for unary-response calls recv_message) with the
        /// first request if there is one. For unary: the send, receive and status operations share
        /// one tag; the call is over when the three are back.</summary>
        static ClientCall Start(Channel channel, string method, string host, CallOptions options,
                                uint flags = 0)
        {
            var h = CreateNative(channel, method, host, options, flags);
            var c = new ClientCall(h, Runtime.Queue);
            if (options.CancellationToken.CanBeCanceled)
                c.registration = options.CancellationToken.Register(s => ((ClientCall)s).Cancel(), c);
            return c;
        }

        // ---- Unary-response calls: one operation set -----------------------------------------

        sealed class UnaryOperation : Operation
        {
            readonly ClientCall call;
            internal readonly TaskCompletionSource<byte[]> Response =
                new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
            int failures;

            internal UnaryOperation(ClientCall call, int ops) : base(ops) { this.call = call; }

            internal override void OnComplete(bool success, bool last)
            {
                if (!success) Interlocked.Increment(ref failures);
                if (last) call.FinishUnary(this, Volatile.Read(ref failures) > 0);
            }
        }

        /// <summary>An async unary call: the response bytes (null if the status is not OK) once the
        /// call is over; StatusTask has the status.</summary>
        internal static ClientCall StartUnary(Channel channel, string method, string host, CallOptions options,
                                              byte[] request, out Task<byte[]> response)
        {
            var c = Start(channel, method, host, options, OneResponse);
            var op = new UnaryOperation(c, 3);
            response = op.Response.Task;
            c.StartUnaryOps(op, request, WriteLast | WriteOptions.NativeFlags(options.WriteOptions));
            return c;
        }

        /// <summary>A client-streaming call: the response comes as for unary calls; requests go
        /// through WriteAsync and CompleteAsync.</summary>
        internal static ClientCall StartClientStreaming(Channel channel, string method, string host,
                                                        CallOptions options, out Task<byte[]> response)
        {
            var c = Start(channel, method, host, options, OneResponse);
            var op = new UnaryOperation(c, 2);
            response = op.Response.Task;
            c.StartUnaryOps(op, null, 0);
            return c;
        }

        void StartUnaryOps(UnaryOperation op, byte[] request, uint flags)
        {
            BufferHandle buf = request == null ? null : BufferHandle.Copy(request);
            IntPtr c = call.Use();
            IntPtr q = queue.Handle.Use();
            try
            {
                IntPtr tag = CompletionQueue.NewTag(op, call);
                int started = 0;
                try
                {
                    if (buf != null)
                    {
                        IntPtr b = buf.Use();
                        try { N.polyrpc_call_send_message(c, b, flags, q, tag); }
                        finally { buf.Done(); }
                        started++;
                    }
                    N.polyrpc_call_recv_message(c, q, tag);
                    started++;
                    N.polyrpc_call_recv_status(c, q, tag);
                    started++;
                }
                catch (NativeException e)
                {
                    // Cannot happen on a fresh call but for a shut-down library: end what started.
                    Log.Error("starting a call: " + e.Message);
                    try { N.polyrpc_call_cancel(c); } catch (NativeException) { }
                    int all = buf != null ? 3 : 2;
                    for (int i = started; i < all; i++) CompletionQueue.NotStarted(tag);
                }
            }
            finally
            {
                queue.Handle.Done();
                call.Done();
                if (buf != null) buf.Dispose();
            }
        }

        void FinishUnary(UnaryOperation op, bool anyFailed)
        {
            byte[] response = null;
            IntPtr c = call.Use();
            try
            {
                IntPtr msg;
                int compressed;
                N.polyrpc_call_take_message(c, out msg, out compressed);
                if (msg != IntPtr.Zero) response = BufferHandle.TakeBytes(msg);
            }
            catch (NativeException)
            {
                response = null;
            }
            finally
            {
                call.Done();
            }
            Finish(true);
            Status st;
            lock (sync) st = status;
            op.Response.TrySetResult(st.StatusCode == StatusCode.OK ? response : null);
        }

        // ---- Status ----------------------------------------------------------------------------

        sealed class StatusOperation : Operation
        {
            readonly ClientCall call;
            internal StatusOperation(ClientCall call) : base(1) { this.call = call; }
            internal override void OnComplete(bool success, bool last) { call.Finish(false); }
        }

        /// <summary>Streaming calls: recv_status on its own tag, started with the call.</summary>
        void StartStatus()
        {
            IntPtr c = call.Use();
            IntPtr q = queue.Handle.Use();
            try
            {
                IntPtr tag = CompletionQueue.NewTag(new StatusOperation(this), call);
                try
                {
                    N.polyrpc_call_recv_status(c, q, tag);
                }
                catch (NativeException e)
                {
                    Log.Error("starting a call: " + e.Message);
                    CompletionQueue.NotStarted(tag);
                }
            }
            finally
            {
                queue.Handle.Done();
                call.Done();
            }
        }

        /// <summary>The call is over (recv_status came back, or was cancelled at teardown): reads
        /// status, trailers and headers; releases the native call if nothing else needs it.</summary>
        void Finish(bool unary)
        {
            Status st;
            Metadata tr = Metadata.Empty, hd = Metadata.Empty;
            IntPtr c = call.Use();
            try
            {
                int code;
                IntPtr message;
                N.polyrpc_call_status(c, out code, out message);
                st = new Status((StatusCode)code, Utf8.Read(message));
                tr = Metadata.FromNative(N.polyrpc_call_trailing_metadata(c));
                hd = Metadata.FromNative(N.polyrpc_call_initial_metadata(c));
            }
            catch (NativeException)
            {
                // recv_status never completed: the completion queue was torn down (exit).
                st = new Status(StatusCode.Cancelled, "polyrpc is shutting down (the completion queue was cancelled)");
            }
            finally
            {
                call.Done();
            }
            TaskCompletionSource<Metadata> pendingHeaders;
            bool release;
            lock (sync)
            {
                status = st;
                trailers = tr;
                if (headers == null) headers = hd;
                finished = true;
                pendingHeaders = headersTcs;
                if (unary) readsDone = true;
                release = readsDone && !released;
                if (release) released = true;
            }
            registration.Dispose();
            if (release) call.Dispose();
            if (pendingHeaders != null) pendingHeaders.TrySetResult(hd);
            statusTcs.TrySetResult(st);
        }

        // ---- Headers ---------------------------------------------------------------------------

        /// <summary>The response headers: once they arrive (recv_initial_metadata, started on
        /// first demand), or empty if the call ended without any.</summary>
        internal Task<Metadata> ResponseHeadersAsync()
        {
            TaskCompletionSource<Metadata> tcs;
            lock (sync)
            {
                if (headersTcs != null) return headersTcs.Task;
                headersTcs = tcs = new TaskCompletionSource<Metadata>(TaskCreationOptions.RunContinuationsAsynchronously);
                if (finished)
                {
                    tcs.TrySetResult(headers ?? Metadata.Empty);
                    return tcs.Task;
                }
            }
            bool started = false;
            try
            {
                IntPtr c = call.Use();
                IntPtr q = queue.Handle.Use();
                try
                {
                    IntPtr tag = CompletionQueue.NewTag(new ActionOperation(ok => HeadersArrived(ok)), call);
                    try
                    {
                        N.polyrpc_call_recv_initial_metadata(c, q, tag);
                        started = true;
                    }
                    catch (NativeException)
                    {
                        CompletionQueue.NotStarted(tag);
                    }
                }
                finally
                {
                    queue.Handle.Done();
                    call.Done();
                }
            }
            catch (ObjectDisposedException)
            {
                // Released in between: the call has finished, and Finish resolves the task.
            }
            if (!started)
            {
                // The call finished meanwhile: Finish gives the headers.
                StatusTask.ContinueWith(t => { lock (sync) tcs.TrySetResult(headers ?? Metadata.Empty); },
                                        TaskContinuationOptions.ExecuteSynchronously);
            }
            return tcs.Task;
        }

        void HeadersArrived(bool ok)
        {
            Metadata hd = null;
            TaskCompletionSource<Metadata> tcs;
            lock (sync)
            {
                tcs = headersTcs;
                if (headers == null && !released)
                {
                    IntPtr c = call.Use();
                    try { headers = Metadata.FromNative(N.polyrpc_call_initial_metadata(c)); }
                    finally { call.Done(); }
                }
                hd = headers;
            }
            if (hd != null) tcs.TrySetResult(hd);
            // else: ok=0 and the status is not there yet: Finish resolves it.
            else StatusTask.ContinueWith(t => { lock (sync) tcs.TrySetResult(headers ?? Metadata.Empty); },
                                         TaskContinuationOptions.ExecuteSynchronously);
        }

        // ---- Streams ---------------------------------------------------------------------------

        /// <summary>A server-streaming call: the request is sent and half-closed at once.</summary>
        internal static ClientCall StartServerStreaming(Channel channel, string method, string host,
                                                        CallOptions options, byte[] request)
        {
            var c = Start(channel, method, host, options);
            c.StartStatus();
            c.halfClosed = true;
            c.StartSend(request, WriteLast | WriteOptions.NativeFlags(options.WriteOptions), null);
            return c;
        }

        /// <summary>A duplex-streaming call.</summary>
        internal static ClientCall StartDuplexStreaming(Channel channel, string method, string host,
                                                        CallOptions options)
        {
            var c = Start(channel, method, host, options);
            c.StartStatus();
            return c;
        }

        /// <summary>The next response (null at the end of the stream or once the call is over).</summary>
        internal Task<byte[]> ReadAsync()
        {
            var tcs = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (sync)
            {
                if (readPending) throw new InvalidOperationException("Only one read can be pending at a time.");
                if (readsDone)
                {
                    tcs.TrySetResult(null);
                    return tcs.Task;
                }
                readPending = true;
            }
            IntPtr c = call.Use();
            IntPtr q = queue.Handle.Use();
            try
            {
                IntPtr tag = CompletionQueue.NewTag(new ActionOperation(ok => ReadDone(ok, tcs)), call);
                try
                {
                    N.polyrpc_call_recv_message(c, q, tag);
                }
                catch (NativeException e)
                {
                    Log.Error("recv_message: " + e.Message);
                    CompletionQueue.NotStarted(tag);
                }
            }
            finally
            {
                queue.Handle.Done();
                call.Done();
            }
            return tcs.Task;
        }

        void ReadDone(bool ok, TaskCompletionSource<byte[]> tcs)
        {
            byte[] bytes = null;
            if (ok)
            {
                IntPtr c = call.Use();
                try
                {
                    IntPtr msg;
                    int compressed;
                    N.polyrpc_call_take_message(c, out msg, out compressed);
                    if (msg != IntPtr.Zero) bytes = BufferHandle.TakeBytes(msg);
                }
                finally
                {
                    call.Done();
                }
            }
            bool release = false;
            lock (sync)
            {
                readPending = false;
                if (bytes == null)
                {
                    readsDone = true;
                    release = finished && !released;
                    if (release) released = true;
                }
            }
            if (release) call.Dispose();
            tcs.TrySetResult(bytes);
        }

        /// <summary>Sends a request message. Faults with RpcException (the call's status) if the call
        /// ended first.</summary>
        internal Task WriteAsync(byte[] message, WriteOptions options)
        {
            lock (sync)
            {
                if (halfClosed) throw new InvalidOperationException("Request stream has already been completed.");
                if (writePending) throw new InvalidOperationException("Only one write can be pending at a time.");
                writePending = true;
            }
            var tcs = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            StartSend(message, WriteOptions.NativeFlags(options), tcs);
            return tcs.Task;
        }

        void StartSend(byte[] message, uint flags, TaskCompletionSource<bool> tcs)
        {
            using (var buf = BufferHandle.Copy(message))
            {
                IntPtr c;
                try
                {
                    c = call.Use();
                }
                catch (ObjectDisposedException)
                {
                    lock (sync) writePending = false;
                    if (tcs != null) FailWrite(tcs);
                    return;
                }
                IntPtr q = queue.Handle.Use();
                IntPtr b = buf.Use();
                try
                {
                    IntPtr tag = CompletionQueue.NewTag(new ActionOperation(ok =>
                    {
                        lock (sync) writePending = false;
                        if (tcs == null) return;
                        if (ok) tcs.TrySetResult(true);
                        else FailWrite(tcs);
                    }));
                    try
                    {
                        N.polyrpc_call_send_message(c, b, flags, q, tag);
                    }
                    catch (NativeException e)
                    {
                        if (tcs != null) tcs.TrySetException(new InvalidOperationException("send_message: " + e.Message));
                        CompletionQueue.NotStarted(tag);
                    }
                }
                finally
                {
                    buf.Done();
                    queue.Handle.Done();
                    call.Done();
                }
            }
        }

        void FailWrite(TaskCompletionSource<bool> tcs)
        {
            StatusTask.ContinueWith(t =>
            {
                var st = t.Result;
                if (st.StatusCode == StatusCode.OK)
                    tcs.TrySetException(new InvalidOperationException("Can't write the message because the call is complete."));
                else
                    tcs.TrySetException(new RpcException(st, TrailersOrEmpty));
            }, TaskContinuationOptions.ExecuteSynchronously);
        }

        /// <summary>Half-closes the request stream (no more messages).</summary>
        internal Task CompleteAsync()
        {
            lock (sync)
            {
                if (halfClosed) return Task.FromResult(true);
                if (writePending) throw new InvalidOperationException("Only one write can be pending at a time.");
                halfClosed = true;
            }
            var tcs = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            IntPtr c;
            try
            {
                c = call.Use();
            }
            catch (ObjectDisposedException)
            {
                tcs.TrySetResult(true); // the call is over: nothing left to close
                return tcs.Task;
            }
            IntPtr q = queue.Handle.Use();
            try
            {
                // A half-close that finds the call over is not an error (Grpc.Core completes it).
                IntPtr tag = CompletionQueue.NewTag(new ActionOperation(ok => tcs.TrySetResult(ok)));
                try
                {
                    N.polyrpc_call_close_send(c, q, tag);
                }
                catch (NativeException e)
                {
                    tcs.TrySetException(new InvalidOperationException("close_send: " + e.Message));
                    CompletionQueue.NotStarted(tag);
                }
            }
            finally
            {
                queue.Handle.Done();
                call.Done();
            }
            return tcs.Task;
        }

        // ---- Cancel and release ----------------------------------------------------------------

        /// <summary>Cancels the call on the wire (no-op once over). Thread-safe.</summary>
        internal void Cancel()
        {
            IntPtr c;
            try
            {
                c = call.Use();
            }
            catch (ObjectDisposedException)
            {
                return; // released: the call is over
            }
            try
            {
                N.polyrpc_call_cancel(c);
            }
            catch (NativeException)
            {
                // Over already.
            }
            finally
            {
                call.Done();
            }
        }

        /// <summary>Dispose of the user's call object: cancels the call if it is not over and
        /// releases the native call once pending operations are back.</summary>
        internal void Dispose()
        {
            bool cancel, release;
            lock (sync)
            {
                cancel = !finished;
                release = finished && !released;
                if (release) released = true;
                readsDone = true;
            }
            if (cancel) Cancel(); // Finish (after the cancellation completes recv_status) releases it
            if (release) call.Dispose();
        }

        // ---- Blocking unary ----------------------------------------------------------------------

        /// <summary>polyrpc_call_unary on the calling thread (its I/O runs here: the fastest path).
        /// The token cancels it from any thread.</summary>
        internal static byte[] BlockingUnary(Channel channel, string method, string host, CallOptions options,
                                             byte[] request, out Status status, out Metadata trailers)
        {
            using (var h = CreateNative(channel, method, host, options))
            using (var buf = BufferHandle.Copy(request))
            {
                var holder = new ClientCall(h, null);
                CancellationTokenRegistration reg = default(CancellationTokenRegistration);
                if (options.CancellationToken.CanBeCanceled)
                    reg = options.CancellationToken.Register(s => ((ClientCall)s).Cancel(), holder);
                IntPtr c = h.Use();
                IntPtr b = buf.Use();
                try
                {
                    IntPtr resp;
                    N.polyrpc_call_unary(c, b, out resp);
                    byte[] bytes = resp == IntPtr.Zero ? null : BufferHandle.TakeBytes(resp);
                    int code;
                    IntPtr message;
                    N.polyrpc_call_status(c, out code, out message);
                    status = new Status((StatusCode)code, Utf8.Read(message));
                    trailers = Metadata.FromNative(N.polyrpc_call_trailing_metadata(c));
                    return bytes;
                }
                catch (NativeException e)
                {
                    throw Errors.Translate(e, "unary call of \"" + method + "\"");
                }
                finally
                {
                    buf.Done();
                    h.Done();
                    reg.Dispose();
                }
            }
        }
    }

    /// <summary>Hooks for the conformance programs and tests only (InternalsVisibleTo).</summary>
    internal static class TestHooks
    {
        /// <summary>When set, client calls label compressed requests with this grpc-encoding
        /// (polyrpc_call_set_encoding_label_for_testing).</summary>
        internal static volatile string EncodingLabel = null;
    }
}
