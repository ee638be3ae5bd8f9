// One server call on the C ABI, with messages as bytes. Operations go to the completion queue
// like the client's. recv_close is started when the call is taken; when it comes back the call is
// over (cancelled=1: the client cancelled, the deadline passed or the connection was lost) and the
// context's CancellationToken is cancelled. The native call is released once both the status
// has been sent (or failed) and recv_close is back.
using System;
using System.Threading;
using System.Threading.Tasks;
using PolyRpc.Native;
using N = PolyRpc.Native.PolyRpcNative;

namespace PolyRpc.Core.Internal
{
    internal sealed class ServerCall
    {
        const uint NoCompress = 1; // POLYRPC_WRITE_NO_COMPRESS
        readonly CallHandle call;
        readonly CompletionQueue queue;
        readonly object sync = new object();
        readonly CancellationTokenSource cancellation = new CancellationTokenSource();

        // Under sync.
        bool headersSent, statusSent, closed, released, readPending, writePending, readsDone;
        bool lastCompressed;

        internal ServerCall(CallHandle call, CompletionQueue queue)
        {
            this.call = call;
            this.queue = queue;
            IntPtr c = call.Use();
            try
            {
                Method = N.polyrpc_call_method(c);
                call.Label("server " + Method);
                Host = N.polyrpc_call_authority(c);
                Peer = N.polyrpc_call_peer(c);
                RequestHeaders = Metadata.FromNative(N.polyrpc_call_request_metadata(c));
                long ms;
                N.polyrpc_call_time_remaining_ms(c, out ms);
                Deadline = ms < 0 ? DateTime.MaxValue : DateTime.UtcNow.AddMilliseconds(ms);
            }
            finally
            {
                call.Done();
            }
        }

        internal string Method { get; private set; }
        internal string Host { get; private set; }
        internal string Peer { get; private set; }
        internal Metadata RequestHeaders { get; private set; }
        internal DateTime Deadline { get; private set; }

        /// <summary>Milliseconds left before the client's deadline, read now from the call's
        /// monotonic clock (0 once passed, -1 without a deadline).</summary>
        internal long TimeRemainingMs()
        {
            IntPtr c = call.Use();
            try
            {
                long ms;
                N.polyrpc_call_time_remaining_ms(c, out ms);
                return ms;
            }
            finally
            {
                call.Done();
            }
        }
        internal CancellationToken CancellationToken { get { return cancellation.Token; } }

        /// <summary>Whether the last request message received arrived compressed.</summary>
        internal bool LastRequestCompressed { get { lock (sync) return lastCompressed; } }

        /// <summary>Starts recv_close; call once, right after the call is taken.</summary>
        internal void StartRecvClose()
        {
            Start(new ActionOperation(ok => Closed()), (c, q, tag) => N.polyrpc_call_recv_close(c, q, tag), true);
        }

        void Closed()
        {
            int cancelled = 0;
            IntPtr c = call.Use();
            try
            {
                N.polyrpc_call_is_cancelled(c, out cancelled);
            }
            catch (NativeException)
            {
                cancelled = 1; // torn down at exit
            }
            finally
            {
                call.Done();
            }
            lock (sync) closed = true;
            if (cancelled != 0)
            {
                // Cancel() runs the token's callbacks (application code): not on this thread.
                ThreadPool.QueueUserWorkItem(s => ((CancellationTokenSource)s).Cancel(), cancellation);
            }
            MaybeRelease();
        }

        void MaybeRelease()
        {
            bool release;
            lock (sync)
            {
                release = closed && statusSent && !released;
                if (release) released = true;
            }
            if (release) call.Dispose();
        }

        /// <summary>Starts one operation; false (and the operation's tag released) if the call is
        /// already released or the C ABI refused it.</summary>
        bool Start(Operation op, Action<IntPtr, IntPtr, IntPtr> start, bool hold)
        {
            IntPtr c;
            try
            {
                c = call.Use();
            }
            catch (ObjectDisposedException)
            {
                op.OnComplete(false, true);
                return false;
            }
            IntPtr q = queue.Handle.Use();
            try
            {
                IntPtr tag = CompletionQueue.NewTag(op, hold ? call : null);
                try
                {
                    start(c, q, tag);
                    return true;
                }
                catch (NativeException e)
                {
                    // CLOSED: the library was shut down (process exit); nothing to report.
                    if (e.Code != (int)polyrpc_error_t.POLYRPC_ERROR_CLOSED) Log.Error("server call operation: " + e.Message);
                    CompletionQueue.NotStarted(tag);
                    return false;
                }
            }
            finally
            {
                queue.Handle.Done();
                call.Done();
            }
        }

        /// <summary>The next request (null at the client's half-close or once the call is over).</summary>
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
            Start(new ActionOperation(ok => ReadDone(ok, tcs)), (c, q, tag) => N.polyrpc_call_recv_message(c, q, tag), true);
            return tcs.Task;
        }

        void ReadDone(bool ok, TaskCompletionSource<byte[]> tcs)
        {
            byte[] bytes = null;
            int compressed = 0;
            if (ok)
            {
                try
                {
                    IntPtr c = call.Use();
                    try
                    {
                        IntPtr msg;
                        N.polyrpc_call_take_message(c, out msg, out compressed);
                        if (msg != IntPtr.Zero) bytes = BufferHandle.TakeBytes(msg);
                    }
                    finally
                    {
                        call.Done();
                    }
                }
                catch (ObjectDisposedException)
                {
                    bytes = null;
                }
            }
            lock (sync)
            {
                readPending = false;
                if (bytes == null) readsDone = true;
                else lastCompressed = compressed != 0;
            }
            tcs.TrySetResult(bytes);
        }

        /// <summary>Sends a response message (the headers first if they are not out yet). Faults
        /// with RpcException(Cancelled) if the call is over.</summary>
        internal Task WriteAsync(byte[] message, WriteOptions options)
        {
            lock (sync)
            {
                if (statusSent) throw new InvalidOperationException("the call's status has been sent: no more messages");
                if (writePending) throw new InvalidOperationException("Only one write can be pending at a time.");
                writePending = true;
                headersSent = true;
            }
            var tcs = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (var buf = BufferHandle.Copy(message))
            {
                uint flags = WriteOptions.NativeFlags(options);
                Start(new ActionOperation(ok =>
                {
                    lock (sync) writePending = false;
                    if (ok) tcs.TrySetResult(true);
                    else tcs.TrySetException(new RpcException(new Status(StatusCode.Cancelled, "the call is over: the response was not sent")));
                }), (c, q, tag) =>
                {
                    IntPtr b = buf.Use();
                    try { N.polyrpc_call_send_message(c, b, flags, q, tag); }
                    finally { buf.Done(); }
                }, false);
            }
            return tcs.Task;
        }

        /// <summary>Sends the response headers. "grpc-internal-encoding-request" (as in Grpc.Core)
        /// chooses the response compression instead of being sent.</summary>
        internal Task WriteHeadersAsync(Metadata headers)
        {
            lock (sync)
            {
                if (headersSent) throw new InvalidOperationException("Response headers can only be sent once per call.");
                headersSent = true;
            }
            string compression = null;
            var filtered = new Metadata();
            if (headers != null)
            {
                foreach (var e in headers)
                {
                    if (e.Key == ClientCall.CompressionRequestHeader) compression = e.Value;
                    else filtered.Add(e);
                }
            }
            if (compression != null) SetCompression(compression);
            var tcs = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (var md = Metadata.ToNative(filtered))
            {
                Start(new ActionOperation(ok =>
                {
                    if (ok) tcs.TrySetResult(true);
                    else tcs.TrySetException(new RpcException(new Status(StatusCode.Cancelled, "the call is over: the headers were not sent")));
                }), (c, q, tag) =>
                {
                    IntPtr m = md == null ? IntPtr.Zero : md.Use();
                    try { N.polyrpc_call_send_initial_metadata(c, m, q, tag); }
                    finally { if (md != null) md.Done(); }
                }, false);
            }
            return tcs.Task;
        }

        /// <summary>Response compression ("identity", "deflate", "gzip"); before the first message.</summary>
        internal void SetCompression(string algorithm)
        {
            IntPtr c;
            try
            {
                c = call.Use();
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            try
            {
                N.polyrpc_call_set_response_compression(c, algorithm);
            }
            catch (NativeException e)
            {
                throw Errors.Translate(e, "response compression");
            }
            finally
            {
                call.Done();
            }
        }

        /// <summary>Ends the call: the last message (unary responses; may be null), then status and
        /// trailers. Both share one tag; the call is released when it and recv_close are back.</summary>
        internal void SendStatus(Status status, Metadata trailers, byte[] lastMessage, WriteOptions options)
        {
            lock (sync)
            {
                if (statusSent) return;
                statusSent = true;
                headersSent = true;
            }
            MetadataHandle md;
            try
            {
                md = Metadata.ToNative(trailers);
            }
            catch (ArgumentException e)
            {
                status = new Status(StatusCode.Internal, "the handler's trailers are invalid: " + e.Message);
                md = null;
            }
            var buf = lastMessage == null ? null : BufferHandle.Copy(lastMessage);
            try
            {
                var op = new SendStatusOperation(this, buf == null ? 1 : 2);
                uint flags = WriteOptions.NativeFlags(options);
                Start(op, (c, q, tag) =>
                {
                    if (buf != null)
                    {
                        IntPtr b = buf.Use();
                        try { N.polyrpc_call_send_message(c, b, flags, q, tag); }
                        catch (NativeException) { CompletionQueue.NotStarted(tag); }
                        finally { buf.Done(); }
                    }
                    IntPtr m = md == null ? IntPtr.Zero : md.Use();
                    try { N.polyrpc_call_send_status(c, (int)status.StatusCode, status.Detail, m, q, tag); }
                    finally { if (md != null) md.Done(); }
                }, false);
            }
            finally
            {
                if (buf != null) buf.Dispose();
                if (md != null) md.Dispose();
            }
        }

        sealed class SendStatusOperation : Operation
        {
            readonly ServerCall call;
            internal SendStatusOperation(ServerCall call, int ops) : base(ops) { this.call = call; }
            internal override void OnComplete(bool success, bool last) { if (last) call.MaybeRelease(); }
        }

        /// <summary>The method takes one request message: none, or a second one, ends the call
        /// UNIMPLEMENTED in the core (gRPC's doc/statuscodes.md). Before the first read.</summary>
        internal void ExpectOneRequest()
        {
            IntPtr c = call.Use();
            try { N.polyrpc_call_expect_one_request(c); }
            finally { call.Done(); }
        }

        /// <summary>Cancels the call (the client sees CANCELLED).</summary>
        internal void Cancel()
        {
            IntPtr c;
            try
            {
                c = call.Use();
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            try { N.polyrpc_call_cancel(c); }
            catch (NativeException) { }
            finally { call.Done(); }
        }

        /// <summary>Conformance hook: drops the whole connection.</summary>
        internal void CloseConnectionForTesting()
        {
            IntPtr c = call.Use();
            try { N.polyrpc_call_close_connection_for_testing(c); }
            finally { call.Done(); }
        }
    }
}
