// What a server handler knows of its call, as in Grpc.Core.
using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using PolyRpc.Core.Internal;

namespace PolyRpc.Core
{
    /// <summary>The context of a call on the server side.</summary>
    public abstract class ServerCallContext
    {
        Dictionary<object, object> userState;

        /// <summary>For implementations (and test doubles).</summary>
        protected ServerCallContext() { }

        /// <summary>Sends the response headers now; at most once, before the first response.</summary>
        public Task WriteResponseHeadersAsync(Metadata responseHeaders) { return WriteResponseHeadersAsyncCore(responseHeaders); }

        /// <summary>The method's path ("/package.Service/Method").</summary>
        public string Method { get { return MethodCore; } }
        /// <summary>The :authority the client sent.</summary>
        public string Host { get { return HostCore; } }
        /// <summary>The client's address ("ipv4:127.0.0.1:5000").</summary>
        public string Peer { get { return PeerCore; } }
        /// <summary>The client's deadline (UTC; DateTime.MaxValue when none).</summary>
        public DateTime Deadline { get { return DeadlineCore; } }
        /// <summary>The request headers.</summary>
        public Metadata RequestHeaders { get { return RequestHeadersCore; } }
        /// <summary>Cancelled when the call ends without a status from this handler: the client
        /// cancelled, the deadline passed or the connection was lost.</summary>
        public CancellationToken CancellationToken { get { return CancellationTokenCore; } }
        /// <summary>Trailers to send with the status.</summary>
        public Metadata ResponseTrailers { get { return ResponseTrailersCore; } }
        /// <summary>The status to end the call with when the handler returns (OK by default).</summary>
        public Status Status { get { return StatusCore; } set { StatusCore = value; } }
        /// <summary>Options of the following response writes.</summary>
        public WriteOptions WriteOptions { get { return WriteOptionsCore; } set { WriteOptionsCore = value; } }
        /// <summary>State for interceptors and handlers to share.</summary>
        public IDictionary<object, object> UserState
        {
            get { return userState ?? (userState = new Dictionary<object, object>()); }
        }

        /// <summary>Implements WriteResponseHeadersAsync.</summary>
        protected abstract Task WriteResponseHeadersAsyncCore(Metadata responseHeaders);
        /// <summary>Implements Method.</summary>
        protected abstract string MethodCore { get; }
        /// <summary>Implements Host.</summary>
        protected abstract string HostCore { get; }
        /// <summary>Implements Peer.</summary>
        protected abstract string PeerCore { get; }
        /// <summary>Implements Deadline.</summary>
        protected abstract DateTime DeadlineCore { get; }
        /// <summary>Implements RequestHeaders.</summary>
        protected abstract Metadata RequestHeadersCore { get; }
        /// <summary>Implements CancellationToken.</summary>
        protected abstract CancellationToken CancellationTokenCore { get; }
        /// <summary>Implements ResponseTrailers.</summary>
        protected abstract Metadata ResponseTrailersCore { get; }
        /// <summary>Implements Status.</summary>
        protected abstract Status StatusCore { get; set; }
        /// <summary>Implements WriteOptions.</summary>
        protected abstract WriteOptions WriteOptionsCore { get; set; }
    }

    internal sealed class PolyRpcServerCallContext : ServerCallContext
    {
        readonly ServerCall call;
        readonly Metadata responseTrailers = new Metadata();
        Status status = Status.DefaultSuccess;
        WriteOptions writeOptions;

        internal PolyRpcServerCallContext(ServerCall call) { this.call = call; }

        internal ServerCall Call { get { return call; } }

        protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders)
        {
            return call.WriteHeadersAsync(responseHeaders);
        }

        protected override string MethodCore { get { return call.Method; } }
        protected override string HostCore { get { return call.Host; } }
        protected override string PeerCore { get { return call.Peer; } }
        protected override DateTime DeadlineCore { get { return call.Deadline; } }
        protected override Metadata RequestHeadersCore { get { return call.RequestHeaders; } }
        protected override CancellationToken CancellationTokenCore { get { return call.CancellationToken; } }
        protected override Metadata ResponseTrailersCore { get { return responseTrailers; } }
        protected override Status StatusCore { get { return status; } set { status = value; } }
        protected override WriteOptions WriteOptionsCore { get { return writeOptions; } set { writeOptions = value; } }
    }

    /// <summary>polyrpc's additions to a server call context (conformance and diagnostics).</summary>
    public static class ServerCallContextExtensions
    {
        /// <summary>True if the last request message this handler received arrived compressed.
        /// False for a context that is not polyrpc's.</summary>
        public static bool LastRequestCompressed(this ServerCallContext context)
        {
            var c = context as PolyRpcServerCallContext;
            return c != null && c.Call.LastRequestCompressed;
        }

        /// <summary>The time left before the client's deadline, read from a monotonic clock (so a
        /// step of the wall clock does not change it, as it does Deadline - DateTime.UtcNow);
        /// TimeSpan.Zero once passed, null without a deadline or for a context that is not
        /// polyrpc's.</summary>
        public static TimeSpan? TimeRemaining(this ServerCallContext context)
        {
            var c = context as PolyRpcServerCallContext;
            if (c == null) return null;
            long ms = c.Call.TimeRemainingMs();
            return ms < 0 ? (TimeSpan?)null : TimeSpan.FromMilliseconds(ms);
        }

        /// <summary>Chooses the compression of the responses ("identity", "deflate", "gzip"),
        /// before the first; used only if the client accepts it. (Grpc.Core's way, a
        /// "grpc-internal-encoding-request" response header, works too.)</summary>
        public static void SetResponseCompression(this ServerCallContext context, string algorithm)
        {
            var c = context as PolyRpcServerCallContext;
            if (c == null) throw new ArgumentException("not a polyrpc server call context", "context");
            if (algorithm == null) throw new ArgumentNullException("algorithm");
            c.Call.SetCompression(algorithm);
        }
    }
}
