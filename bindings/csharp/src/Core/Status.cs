// gRPC status: StatusCode, Status and RpcException, as in Grpc.Core.
using System;

namespace PolyRpc.Core
{
    /// <summary>gRPC status codes (the wire values).</summary>
    public enum StatusCode
    {
        /// <summary>Not an error.</summary>
        OK = 0,
        /// <summary>The operation was cancelled, typically by the caller.</summary>
        Cancelled = 1,
        /// <summary>Unknown error.</summary>
        Unknown = 2,
        /// <summary>The client specified an invalid argument.</summary>
        InvalidArgument = 3,
        /// <summary>The deadline expired before the operation could complete.</summary>
        DeadlineExceeded = 4,
        /// <summary>Some requested entity was not found.</summary>
        NotFound = 5,
        /// <summary>The entity that a client attempted to create already exists.</summary>
        AlreadyExists = 6,
        /// <summary>The caller does not have permission to execute the operation.</summary>
        PermissionDenied = 7,
        /// <summary>Some resource has been exhausted (a message over the size limit, a quota).</summary>
        ResourceExhausted = 8,
        /// <summary>The system is not in a state required for the operation.</summary>
        FailedPrecondition = 9,
        /// <summary>The operation was aborted.</summary>
        Aborted = 10,
        /// <summary>The operation was attempted past the valid range.</summary>
        OutOfRange = 11,
        /// <summary>The operation is not implemented or not supported.</summary>
        Unimplemented = 12,
        /// <summary>Internal error.</summary>
        Internal = 13,
        /// <summary>The service is currently unavailable.</summary>
        Unavailable = 14,
        /// <summary>Unrecoverable data loss or corruption.</summary>
        DataLoss = 15,
        /// <summary>The request does not have valid authentication credentials.</summary>
        Unauthenticated = 16
    }

    /// <summary>The status of a finished call: a code and a detail message.</summary>
    public struct Status : IEquatable<Status>
    {
        /// <summary>The OK status.</summary>
        public static readonly Status DefaultSuccess = new Status(StatusCode.OK, "");
        /// <summary>A status of code Cancelled with an empty detail.</summary>
        public static readonly Status DefaultCancelled = new Status(StatusCode.Cancelled, "");

        readonly StatusCode statusCode;
        readonly string detail;
        readonly Exception debugException;

        /// <summary>Creates a status.</summary>
        public Status(StatusCode statusCode, string detail) : this(statusCode, detail, null) { }

        /// <summary>Creates a status with an exception for debugging (never sent on the wire).</summary>
        public Status(StatusCode statusCode, string detail, Exception debugException)
        {
            this.statusCode = statusCode;
            this.detail = detail ?? "";
            this.debugException = debugException;
        }

        /// <summary>The status code.</summary>
        public StatusCode StatusCode { get { return statusCode; } }
        /// <summary>The detail message ("" when none).</summary>
        public string Detail { get { return detail ?? ""; } }
        /// <summary>A local exception behind this status, if any; not sent to the peer.</summary>
        public Exception DebugException { get { return debugException; } }

        /// <inheritdoc/>
        public override string ToString()
        {
            string s = "Status(StatusCode=\"" + statusCode + "\", Detail=\"" + Detail + "\"";
            if (debugException != null) s += ", DebugException=\"" + debugException.GetType() + ": " + debugException.Message + "\"";
            return s + ")";
        }

        /// <inheritdoc/>
        public bool Equals(Status other) { return statusCode == other.statusCode && Detail == other.Detail; }
        /// <inheritdoc/>
        public override bool Equals(object obj) { return obj is Status && Equals((Status)obj); }
        /// <inheritdoc/>
        public override int GetHashCode() { return ((int)statusCode * 397) ^ Detail.GetHashCode(); }
        /// <summary>Equality of code and detail.</summary>
        public static bool operator ==(Status a, Status b) { return a.Equals(b); }
        /// <summary>Inequality of code or detail.</summary>
        public static bool operator !=(Status a, Status b) { return !a.Equals(b); }
    }

    /// <summary>A call that ended with a status other than OK: thrown by calls on the client, and
    /// thrown by a server handler to end its call with that status and trailers.</summary>
    public class RpcException : Exception
    {
        readonly Status status;
        readonly Metadata trailers;

        /// <summary>Creates an exception for status, without trailers.</summary>
        public RpcException(Status status) : this(status, Metadata.Empty, status.ToString()) { }

        /// <summary>Creates an exception for status with a custom message.</summary>
        public RpcException(Status status, string message) : this(status, Metadata.Empty, message) { }

        /// <summary>Creates an exception for status with trailers.</summary>
        public RpcException(Status status, Metadata trailers) : this(status, trailers, status.ToString()) { }

        /// <summary>Creates an exception for status with trailers and a custom message.</summary>
        public RpcException(Status status, Metadata trailers, string message) : base(message, status.DebugException)
        {
            this.status = status;
            this.trailers = trailers ?? Metadata.Empty;
        }

        /// <summary>The status of the call.</summary>
        public Status Status { get { return status; } }
        /// <summary>Shortcut for Status.StatusCode.</summary>
        public StatusCode StatusCode { get { return status.StatusCode; } }
        /// <summary>The trailers the call ended with (empty when none).</summary>
        public Metadata Trailers { get { return trailers; } }
    }
}
