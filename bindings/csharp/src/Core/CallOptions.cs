// Per-call options, as in Grpc.Core.
using System;
using System.Threading;

namespace PolyRpc.Core
{
    /// <summary>Flags of a write.</summary>
    [Flags]
    public enum WriteFlags
    {
        /// <summary>Hint that the write may be buffered (accepted; polyrpc sends at once).</summary>
        BufferHint = 0x1,
        /// <summary>Send this message uncompressed even if the call compresses.</summary>
        NoCompress = 0x2
    }

    /// <summary>Options of a write (of the messages of a stream, or of a response).</summary>
    public class WriteOptions
    {
        /// <summary>Default options: no flags.</summary>
        public static readonly WriteOptions Default = new WriteOptions();

        readonly WriteFlags flags;

        /// <summary>Creates write options.</summary>
        public WriteOptions(WriteFlags flags = default(WriteFlags)) { this.flags = flags; }

        /// <summary>The flags.</summary>
        public WriteFlags Flags { get { return flags; } }

        internal static uint NativeFlags(WriteOptions o)
        {
            return o != null && (o.flags & WriteFlags.NoCompress) != 0 ? 1u /* POLYRPC_WRITE_NO_COMPRESS */ : 0u;
        }
    }

    /// <summary>Options of a call: headers, deadline, cancellation token, write options,
    /// credentials, wait-for-ready. Immutable; the With* methods return a modified copy.</summary>
    public struct CallOptions
    {
        readonly Metadata headers;
        readonly DateTime? deadline;
        readonly CancellationToken cancellationToken;
        readonly WriteOptions writeOptions;
        readonly CallCredentials credentials;
        readonly bool? waitForReady;

        /// <summary>Creates call options.</summary>
        public CallOptions(Metadata headers = null, DateTime? deadline = null,
                           CancellationToken cancellationToken = default(CancellationToken),
                           WriteOptions writeOptions = null, CallCredentials credentials = null,
                           bool? waitForReady = null)
        {
            this.headers = headers;
            this.deadline = deadline;
            this.cancellationToken = cancellationToken;
            this.writeOptions = writeOptions;
            this.credentials = credentials;
            this.waitForReady = waitForReady;
        }

        /// <summary>Request headers (null: none).</summary>
        public Metadata Headers { get { return headers; } }
        /// <summary>Deadline (UTC; null: none).</summary>
        public DateTime? Deadline { get { return deadline; } }
        /// <summary>Cancelling it cancels the call on the wire.</summary>
        public CancellationToken CancellationToken { get { return cancellationToken; } }
        /// <summary>Write options of the request messages.</summary>
        public WriteOptions WriteOptions { get { return writeOptions; } }
        /// <summary>Per-call credentials.</summary>
        public CallCredentials Credentials { get { return credentials; } }
        /// <summary>True: queue the call until the channel is ready instead of failing while it
        /// cannot connect.</summary>
        public bool IsWaitForReady { get { return waitForReady ?? false; } }

        /// <summary>A copy with these headers.</summary>
        public CallOptions WithHeaders(Metadata headers)
        {
            return new CallOptions(headers, deadline, cancellationToken, writeOptions, credentials, waitForReady);
        }
        /// <summary>A copy with this deadline.</summary>
        public CallOptions WithDeadline(DateTime deadline)
        {
            return new CallOptions(headers, deadline, cancellationToken, writeOptions, credentials, waitForReady);
        }
        /// <summary>A copy with this cancellation token.</summary>
        public CallOptions WithCancellationToken(CancellationToken cancellationToken)
        {
            return new CallOptions(headers, deadline, cancellationToken, writeOptions, credentials, waitForReady);
        }
        /// <summary>A copy with these write options.</summary>
        public CallOptions WithWriteOptions(WriteOptions writeOptions)
        {
            return new CallOptions(headers, deadline, cancellationToken, writeOptions, credentials, waitForReady);
        }
        /// <summary>A copy with these credentials.</summary>
        public CallOptions WithCredentials(CallCredentials credentials)
        {
            return new CallOptions(headers, deadline, cancellationToken, writeOptions, credentials, waitForReady);
        }
        /// <summary>A copy with wait-for-ready on or off.</summary>
        public CallOptions WithWaitForReady(bool waitForReady = true)
        {
            return new CallOptions(headers, deadline, cancellationToken, writeOptions, credentials, waitForReady);
        }
    }
}
