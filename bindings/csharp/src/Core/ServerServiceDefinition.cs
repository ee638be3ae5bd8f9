// Services on the server side, as in Grpc.Core: handler delegates for the four kinds of method,
// ServerServiceDefinition with its builder, and ServiceBinderBase (what generated BindService
// overloads take).
using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using PolyRpc.Core.Interceptors;
using PolyRpc.Core.Internal;

namespace PolyRpc.Core
{
    /// <summary>Handles a unary call.</summary>
    public delegate Task<TResponse> UnaryServerMethod<TRequest, TResponse>(TRequest request, ServerCallContext context)
        where TRequest : class where TResponse : class;

    /// <summary>Handles a client-streaming call.</summary>
    public delegate Task<TResponse> ClientStreamingServerMethod<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context)
        where TRequest : class where TResponse : class;

    /// <summary>Handles a server-streaming call.</summary>
    public delegate Task ServerStreamingServerMethod<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context)
        where TRequest : class where TResponse : class;

    /// <summary>Handles a duplex-streaming call.</summary>
    public delegate Task DuplexStreamingServerMethod<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context)
        where TRequest : class where TResponse : class;

    /// <summary>Receives the methods of a service (generated BindService overloads call it).</summary>
    public abstract class ServiceBinderBase
    {
        /// <summary>Adds a unary method.</summary>
        public virtual void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method,
                                                           UnaryServerMethod<TRequest, TResponse> handler)
            where TRequest : class where TResponse : class
        { throw new NotImplementedException(); }

        /// <summary>Adds a client-streaming method.</summary>
        public virtual void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method,
                                                           ClientStreamingServerMethod<TRequest, TResponse> handler)
            where TRequest : class where TResponse : class
        { throw new NotImplementedException(); }

        /// <summary>Adds a server-streaming method.</summary>
        public virtual void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method,
                                                           ServerStreamingServerMethod<TRequest, TResponse> handler)
            where TRequest : class where TResponse : class
        { throw new NotImplementedException(); }

        /// <summary>Adds a duplex-streaming method.</summary>
        public virtual void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method,
                                                           DuplexStreamingServerMethod<TRequest, TResponse> handler)
            where TRequest : class where TResponse : class
        { throw new NotImplementedException(); }
    }

    /// <summary>A service's methods and their handlers, ready to be added to a Server.</summary>
    public class ServerServiceDefinition
    {
        readonly IReadOnlyList<ServerMethodEntry> methods;

        internal ServerServiceDefinition(IReadOnlyList<ServerMethodEntry> methods) { this.methods = methods; }

        internal IReadOnlyList<ServerMethodEntry> Methods { get { return methods; } }

        /// <summary>A builder of a service definition.</summary>
        public static Builder CreateBuilder() { return new Builder(); }

        internal ServerServiceDefinition Intercept(Interceptor interceptor)
        {
            var wrapped = new List<ServerMethodEntry>();
            foreach (var m in methods) wrapped.Add(m.Intercept(interceptor));
            return new ServerServiceDefinition(wrapped);
        }

        /// <summary>Builds a ServerServiceDefinition.</summary>
        public class Builder
        {
            readonly List<ServerMethodEntry> methods = new List<ServerMethodEntry>();
            readonly HashSet<string> names = new HashSet<string>();

            /// <summary>Creates an empty builder.</summary>
            public Builder() { }

            Builder Add(IMethod method, ServerMethodEntry entry)
            {
                if (method == null) throw new ArgumentNullException("method");
                if (!names.Add(method.FullName))
                    throw new ArgumentException("method " + method.FullName + " is already in this service");
                methods.Add(entry);
                return this;
            }

            /// <summary>Adds a unary method.</summary>
            public Builder AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method,
                                                          UnaryServerMethod<TRequest, TResponse> handler)
                where TRequest : class where TResponse : class
            {
                if (handler == null) throw new ArgumentNullException("handler");
                return Add(method, new UnaryEntry<TRequest, TResponse>(method, handler));
            }

            /// <summary>Adds a client-streaming method.</summary>
            public Builder AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method,
                                                          ClientStreamingServerMethod<TRequest, TResponse> handler)
                where TRequest : class where TResponse : class
            {
                if (handler == null) throw new ArgumentNullException("handler");
                return Add(method, new ClientStreamingEntry<TRequest, TResponse>(method, handler));
            }

            /// <summary>Adds a server-streaming method.</summary>
            public Builder AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method,
                                                          ServerStreamingServerMethod<TRequest, TResponse> handler)
                where TRequest : class where TResponse : class
            {
                if (handler == null) throw new ArgumentNullException("handler");
                return Add(method, new ServerStreamingEntry<TRequest, TResponse>(method, handler));
            }

            /// <summary>Adds a duplex-streaming method.</summary>
            public Builder AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method,
                                                          DuplexStreamingServerMethod<TRequest, TResponse> handler)
                where TRequest : class where TResponse : class
            {
                if (handler == null) throw new ArgumentNullException("handler");
                return Add(method, new DuplexStreamingEntry<TRequest, TResponse>(method, handler));
            }

            /// <summary>The definition.</summary>
            public ServerServiceDefinition Build() { return new ServerServiceDefinition(methods.ToArray()); }
        }
    }

    /// <summary>One method of a service with its handler: runs a call of it.</summary>
    internal abstract class ServerMethodEntry
    {
        internal abstract string FullName { get; }
        internal abstract Task Handle(ServerCall call);
        internal abstract ServerMethodEntry Intercept(Interceptor interceptor);

        protected static Status HandlerStatus(Exception e, PolyRpcServerCallContext context)
        {
            var agg = e as AggregateException;
            if (agg != null && agg.InnerExceptions.Count == 1) e = agg.InnerException;
            var rpc = e as RpcException;
            if (rpc != null)
            {
                foreach (var t in rpc.Trailers) context.ResponseTrailers.Add(t);
                return rpc.Status;
            }
            if (e is OperationCanceledException && context.CancellationToken.IsCancellationRequested)
                return new Status(StatusCode.Cancelled, "the call was cancelled", e);
            return new Status(StatusCode.Unknown, "Exception was thrown by handler.", e);
        }

        protected static bool TryDeserialize<T>(Marshaller<T> m, byte[] bytes, out T value, out Status error)
        {
            try
            {
                value = m.Deserializer(bytes);
                error = Status.DefaultSuccess;
                return true;
            }
            catch (Exception e)
            {
                value = default(T);
                error = new Status(StatusCode.Internal, "Failed to deserialize request message.", e);
                return false;
            }
        }

        protected static byte[] Serialize<T>(Marshaller<T> m, T value, ref Status status)
        {
            if (value == null)
            {
                status = new Status(StatusCode.Internal, "the handler returned a null response");
                return null;
            }
            try
            {
                var b = m.Serializer(value);
                if (b == null) status = new Status(StatusCode.Internal, "the response serializer returned null");
                return b;
            }
            catch (Exception e)
            {
                status = new Status(StatusCode.Internal, "Failed to serialize response message.", e);
                return null;
            }
        }

        /// <summary>The requests of a call, deserialized.</summary>
        protected sealed class RequestStream<T> : IAsyncStreamReader<T>
        {
            readonly ServerCall call;
            readonly Marshaller<T> marshaller;
            T current;

            internal RequestStream(ServerCall call, Marshaller<T> marshaller)
            {
                this.call = call;
                this.marshaller = marshaller;
            }

            public T Current { get { return current; } }

            public async Task<bool> MoveNext(CancellationToken cancellationToken)
            {
                var registration = cancellationToken.CanBeCanceled
                    ? cancellationToken.Register(s => ((ServerCall)s).Cancel(), call)
                    : default(CancellationTokenRegistration);
                byte[] bytes;
                try
                {
                    bytes = await call.ReadAsync().ConfigureAwait(false);
                }
                finally
                {
                    registration.Dispose();
                }
                if (bytes == null)
                {
                    if (call.CancellationToken.IsCancellationRequested)
                        throw new RpcException(new Status(StatusCode.Cancelled, "the call was cancelled"));
                    return false;
                }
                Status error;
                if (!TryDeserialize(marshaller, bytes, out current, out error)) throw new RpcException(error);
                return true;
            }
        }

        /// <summary>The responses of a call, serialized.</summary>
        protected sealed class ResponseStream<T> : IServerStreamWriter<T>
        {
            readonly ServerCall call;
            readonly Marshaller<T> marshaller;
            readonly PolyRpcServerCallContext context;

            internal ResponseStream(ServerCall call, Marshaller<T> marshaller, PolyRpcServerCallContext context)
            {
                this.call = call;
                this.marshaller = marshaller;
                this.context = context;
            }

            public WriteOptions WriteOptions
            {
                get { return context.WriteOptions; }
                set { context.WriteOptions = value; }
            }

            public Task WriteAsync(T message)
            {
                if (message == null) throw new ArgumentNullException("message");
                return call.WriteAsync(marshaller.Serializer(message), context.WriteOptions);
            }
        }
    }

    internal sealed class UnaryEntry<TRequest, TResponse> : ServerMethodEntry
        where TRequest : class where TResponse : class
    {
        readonly Method<TRequest, TResponse> method;
        readonly UnaryServerMethod<TRequest, TResponse> handler;

        internal UnaryEntry(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse> handler)
        {
            this.method = method;
            this.handler = handler;
        }

        internal override string FullName { get { return method.FullName; } }

        internal override ServerMethodEntry Intercept(Interceptor interceptor)
        {
            var inner = handler;
            return new UnaryEntry<TRequest, TResponse>(method, (r, c) => interceptor.UnaryServerHandler(r, c, inner));
        }

        internal override async Task Handle(ServerCall call)
        {
            var context = new PolyRpcServerCallContext(call);
            call.ExpectOneRequest();
            byte[] bytes = await call.ReadAsync().ConfigureAwait(false);
            if (bytes == null)
            {
                call.SendStatus(new Status(StatusCode.Internal, "the client sent no request message"), null, null, null);
                return;
            }
            TRequest request;
            Status status;
            if (!TryDeserialize(method.RequestMarshaller, bytes, out request, out status))
            {
                call.SendStatus(status, null, null, null);
                return;
            }
            byte[] response = null;
            try
            {
                var result = await handler(request, context).ConfigureAwait(false);
                status = context.Status;
                if (status.StatusCode == StatusCode.OK) response = Serialize(method.ResponseMarshaller, result, ref status);
            }
            catch (Exception e)
            {
                status = HandlerStatus(e, context);
            }
            call.SendStatus(status, context.ResponseTrailers, status.StatusCode == StatusCode.OK ? response : null,
                            context.WriteOptions);
        }
    }

    internal sealed class ClientStreamingEntry<TRequest, TResponse> : ServerMethodEntry
        where TRequest : class where TResponse : class
    {
        readonly Method<TRequest, TResponse> method;
        readonly ClientStreamingServerMethod<TRequest, TResponse> handler;

        internal ClientStreamingEntry(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse> handler)
        {
            this.method = method;
            this.handler = handler;
        }

        internal override string FullName { get { return method.FullName; } }

        internal override ServerMethodEntry Intercept(Interceptor interceptor)
        {
            var inner = handler;
            return new ClientStreamingEntry<TRequest, TResponse>(method, (s, c) => interceptor.ClientStreamingServerHandler(s, c, inner));
        }

        internal override async Task Handle(ServerCall call)
        {
            var context = new PolyRpcServerCallContext(call);
            Status status;
            byte[] response = null;
            try
            {
                var result = await handler(new RequestStream<TRequest>(call, method.RequestMarshaller), context).ConfigureAwait(false);
                status = context.Status;
                if (status.StatusCode == StatusCode.OK) response = Serialize(method.ResponseMarshaller, result, ref status);
            }
            catch (Exception e)
            {
                status = HandlerStatus(e, context);
            }
            call.SendStatus(status, context.ResponseTrailers, status.StatusCode == StatusCode.OK ? response : null,
                            context.WriteOptions);
        }
    }

    internal sealed class ServerStreamingEntry<TRequest, TResponse> : ServerMethodEntry
        where TRequest : class where TResponse : class
    {
        readonly Method<TRequest, TResponse> method;
        readonly ServerStreamingServerMethod<TRequest, TResponse> handler;

        internal ServerStreamingEntry(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse> handler)
        {
            this.method = method;
            this.handler = handler;
        }

        internal override string FullName { get { return method.FullName; } }

        internal override ServerMethodEntry Intercept(Interceptor interceptor)
        {
            var inner = handler;
            return new ServerStreamingEntry<TRequest, TResponse>(method, (r, s, c) => interceptor.ServerStreamingServerHandler(r, s, c, inner));
        }

        internal override async Task Handle(ServerCall call)
        {
            var context = new PolyRpcServerCallContext(call);
            call.ExpectOneRequest();
            byte[] bytes = await call.ReadAsync().ConfigureAwait(false);
            if (bytes == null)
            {
                call.SendStatus(new Status(StatusCode.Internal, "the client sent no request message"), null, null, null);
                return;
            }
            TRequest request;
            Status status;
            if (!TryDeserialize(method.RequestMarshaller, bytes, out request, out status))
            {
                call.SendStatus(status, null, null, null);
                return;
            }
            try
            {
                await handler(request, new ResponseStream<TResponse>(call, method.ResponseMarshaller, context), context)
                    .ConfigureAwait(false);
                status = context.Status;
            }
            catch (Exception e)
            {
                status = HandlerStatus(e, context);
            }
            call.SendStatus(status, context.ResponseTrailers, null, null);
        }
    }

    internal sealed class DuplexStreamingEntry<TRequest, TResponse> : ServerMethodEntry
        where TRequest : class where TResponse : class
    {
        readonly Method<TRequest, TResponse> method;
        readonly DuplexStreamingServerMethod<TRequest, TResponse> handler;

        internal DuplexStreamingEntry(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse> handler)
        {
            this.method = method;
            this.handler = handler;
        }

        internal override string FullName { get { return method.FullName; } }

        internal override ServerMethodEntry Intercept(Interceptor interceptor)
        {
            var inner = handler;
            return new DuplexStreamingEntry<TRequest, TResponse>(method, (r, s, c) => interceptor.DuplexStreamingServerHandler(r, s, c, inner));
        }

        internal override async Task Handle(ServerCall call)
        {
            var context = new PolyRpcServerCallContext(call);
            Status status;
            try
            {
                await handler(new RequestStream<TRequest>(call, method.RequestMarshaller),
                              new ResponseStream<TResponse>(call, method.ResponseMarshaller, context), context)
                    .ConfigureAwait(false);
                status = context.Status;
            }
            catch (Exception e)
            {
                status = HandlerStatus(e, context);
            }
            call.SendStatus(status, context.ResponseTrailers, null, null);
        }
    }
}
