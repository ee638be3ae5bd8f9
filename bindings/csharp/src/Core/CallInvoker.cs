// CallInvoker, DefaultCallInvoker and ClientBase, as in Grpc.Core: generated clients and
// interceptors stand on CallInvoker; DefaultCallInvoker makes the calls on a Channel.
using System;
using System.Threading;
using System.Threading.Tasks;
using PolyRpc.Core.Internal;

namespace PolyRpc.Core
{
    /// <summary>Makes calls: what generated clients and interceptors use.</summary>
    public abstract class CallInvoker
    {
        /// <summary>A unary call that blocks the calling thread until the response.</summary>
        public abstract TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string host,
                                                                        CallOptions options, TRequest request)
            where TRequest : class where TResponse : class;

        /// <summary>An asynchronous unary call.</summary>
        public abstract AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method,
                                                                                     string host, CallOptions options,
                                                                                     TRequest request)
            where TRequest : class where TResponse : class;

        /// <summary>An asynchronous server-streaming call.</summary>
        public abstract AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(
            Method<TRequest, TResponse> method, string host, CallOptions options, TRequest request)
            where TRequest : class where TResponse : class;

        /// <summary>An asynchronous client-streaming call.</summary>
        public abstract AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(
            Method<TRequest, TResponse> method, string host, CallOptions options)
            where TRequest : class where TResponse : class;

        /// <summary>An asynchronous duplex-streaming call.</summary>
        public abstract AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(
            Method<TRequest, TResponse> method, string host, CallOptions options)
            where TRequest : class where TResponse : class;
    }

    /// <summary>Makes calls on a Channel, through the C ABI.</summary>
    public class DefaultCallInvoker : CallInvoker
    {
        readonly Channel channel;

        /// <summary>Creates an invoker for channel.</summary>
        public DefaultCallInvoker(Channel channel)
        {
            if (channel == null) throw new ArgumentNullException("channel");
            this.channel = channel;
        }

        static byte[] Serialize<T>(Marshaller<T> m, T message)
        {
            if (message == null) throw new ArgumentNullException("request");
            var bytes = m.Serializer(message);
            if (bytes == null) throw new InvalidOperationException("the request serializer returned null");
            return bytes;
        }

        internal static T Deserialize<T>(Marshaller<T> m, byte[] bytes)
        {
            try
            {
                return m.Deserializer(bytes);
            }
            catch (Exception e)
            {
                throw new RpcException(new Status(StatusCode.Internal, "Failed to deserialize response message.", e));
            }
        }

        /// <inheritdoc/>
        public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string host,
                                                                        CallOptions options, TRequest request)
        {
            if (method == null) throw new ArgumentNullException("method");
            Status status;
            Metadata trailers;
            var response = ClientCall.BlockingUnary(channel, method.FullName, host, options,
                                                    Serialize(method.RequestMarshaller, request), out status, out trailers);
            if (status.StatusCode != StatusCode.OK) throw new RpcException(status, trailers);
            if (response == null)
                throw new RpcException(new Status(StatusCode.Internal, "the server sent no response message"), trailers);
            return Deserialize(method.ResponseMarshaller, response);
        }

        /// <inheritdoc/>
        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method,
                                                                                     string host, CallOptions options,
                                                                                     TRequest request)
        {
            if (method == null) throw new ArgumentNullException("method");
            Task<byte[]> raw;
            var call = ClientCall.StartUnary(channel, method.FullName, host, options,
                                             Serialize(method.RequestMarshaller, request), out raw);
            return new AsyncUnaryCall<TResponse>(Response(call, raw, method.ResponseMarshaller),
                                                 call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
        }

        static async Task<TResponse> Response<TResponse>(ClientCall call, Task<byte[]> raw, Marshaller<TResponse> m)
        {
            byte[] bytes = await raw.ConfigureAwait(false);
            var status = await call.StatusTask.ConfigureAwait(false);
            if (status.StatusCode != StatusCode.OK) throw new RpcException(status, call.TrailersOrEmpty);
            if (bytes == null)
                throw new RpcException(new Status(StatusCode.Internal, "the server sent no response message"), call.TrailersOrEmpty);
            return Deserialize(m, bytes);
        }

        /// <inheritdoc/>
        public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(
            Method<TRequest, TResponse> method, string host, CallOptions options, TRequest request)
        {
            if (method == null) throw new ArgumentNullException("method");
            var call = ClientCall.StartServerStreaming(channel, method.FullName, host, options,
                                                       Serialize(method.RequestMarshaller, request));
            return new AsyncServerStreamingCall<TResponse>(new ResponseStream<TResponse>(call, method.ResponseMarshaller),
                                                           call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers,
                                                           call.Dispose);
        }

        /// <inheritdoc/>
        public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(
            Method<TRequest, TResponse> method, string host, CallOptions options)
        {
            if (method == null) throw new ArgumentNullException("method");
            Task<byte[]> raw;
            var call = ClientCall.StartClientStreaming(channel, method.FullName, host, options, out raw);
            return new AsyncClientStreamingCall<TRequest, TResponse>(
                new RequestStream<TRequest>(call, method.RequestMarshaller, options.WriteOptions),
                Response(call, raw, method.ResponseMarshaller), call.ResponseHeadersAsync, call.GetStatus,
                call.GetTrailers, call.Dispose);
        }

        /// <inheritdoc/>
        public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(
            Method<TRequest, TResponse> method, string host, CallOptions options)
        {
            if (method == null) throw new ArgumentNullException("method");
            var call = ClientCall.StartDuplexStreaming(channel, method.FullName, host, options);
            return new AsyncDuplexStreamingCall<TRequest, TResponse>(
                new RequestStream<TRequest>(call, method.RequestMarshaller, options.WriteOptions),
                new ResponseStream<TResponse>(call, method.ResponseMarshaller), call.ResponseHeadersAsync,
                call.GetStatus, call.GetTrailers, call.Dispose);
        }

        sealed class RequestStream<T> : IClientStreamWriter<T>
        {
            readonly ClientCall call;
            readonly Marshaller<T> marshaller;

            internal RequestStream(ClientCall call, Marshaller<T> marshaller, WriteOptions options)
            {
                this.call = call;
                this.marshaller = marshaller;
                WriteOptions = options;
            }

            public WriteOptions WriteOptions { get; set; }

            public Task WriteAsync(T message)
            {
                return call.WriteAsync(Serialize(marshaller, message), WriteOptions);
            }

            public Task CompleteAsync() { return call.CompleteAsync(); }
        }

        sealed class ResponseStream<T> : IAsyncStreamReader<T>
        {
            readonly ClientCall call;
            readonly Marshaller<T> marshaller;
            T current;

            internal ResponseStream(ClientCall call, Marshaller<T> marshaller)
            {
                this.call = call;
                this.marshaller = marshaller;
            }

            public T Current { get { return current; } }

            public async Task<bool> MoveNext(CancellationToken cancellationToken)
            {
                byte[] bytes;
                var registration = cancellationToken.CanBeCanceled
                    ? cancellationToken.Register(s => ((ClientCall)s).Cancel(), call)
                    : default(CancellationTokenRegistration);
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
                    var status = await call.StatusTask.ConfigureAwait(false);
                    if (status.StatusCode != StatusCode.OK) throw new RpcException(status, call.TrailersOrEmpty);
                    return false;
                }
                try
                {
                    current = marshaller.Deserializer(bytes);
                }
                catch (Exception e)
                {
                    call.Cancel();
                    throw new RpcException(new Status(StatusCode.Internal, "Failed to deserialize response message.", e));
                }
                return true;
            }
        }
    }

    /// <summary>What a generated client is configured with: the invoker and the host.</summary>
    public class ClientBaseConfiguration
    {
        internal ClientBaseConfiguration(CallInvoker callInvoker, string host)
        {
            CallInvoker = callInvoker;
            Host = host;
        }

        internal CallInvoker CallInvoker { get; private set; }
        internal string Host { get; private set; }
    }

    /// <summary>Base of generated clients.</summary>
    public abstract class ClientBase
    {
        readonly ClientBaseConfiguration configuration;
        readonly CallInvoker callInvoker;

        /// <summary>For mocking: no invoker.</summary>
        protected ClientBase() { }

        /// <summary>A client with this configuration.</summary>
        protected ClientBase(ClientBaseConfiguration configuration)
        {
            if (configuration == null) throw new ArgumentNullException("configuration");
            this.configuration = configuration;
            callInvoker = configuration.Host == null ? configuration.CallInvoker
                                                     : new HostCallInvoker(configuration.CallInvoker, configuration.Host);
        }

        /// <summary>A client on channel.</summary>
        protected ClientBase(ChannelBase channel) : this(channel.CreateCallInvoker()) { }

        /// <summary>A client on callInvoker.</summary>
        protected ClientBase(CallInvoker callInvoker) : this(new ClientBaseConfiguration(callInvoker, null)) { }

        /// <summary>The invoker the client's methods call.</summary>
        protected CallInvoker CallInvoker { get { return callInvoker; } }

        internal ClientBaseConfiguration Configuration { get { return configuration; } }

        /// <summary>Sends every call with this :authority.</summary>
        sealed class HostCallInvoker : CallInvoker
        {
            readonly CallInvoker inner;
            readonly string host;
            internal HostCallInvoker(CallInvoker inner, string host) { this.inner = inner; this.host = host; }

            public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string h,
                                                                            CallOptions options, TRequest request)
            { return inner.BlockingUnaryCall(method, h ?? host, options, request); }
            public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method,
                                                                                         string h, CallOptions options, TRequest request)
            { return inner.AsyncUnaryCall(method, h ?? host, options, request); }
            public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(
                Method<TRequest, TResponse> method, string h, CallOptions options, TRequest request)
            { return inner.AsyncServerStreamingCall(method, h ?? host, options, request); }
            public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(
                Method<TRequest, TResponse> method, string h, CallOptions options)
            { return inner.AsyncClientStreamingCall(method, h ?? host, options); }
            public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(
                Method<TRequest, TResponse> method, string h, CallOptions options)
            { return inner.AsyncDuplexStreamingCall(method, h ?? host, options); }
        }
    }

    /// <summary>Base of generated clients, with WithHost.</summary>
    public abstract class ClientBase<T> : ClientBase where T : ClientBase<T>
    {
        /// <summary>For mocking: no invoker.</summary>
        protected ClientBase() { }
        /// <summary>A client with this configuration.</summary>
        protected ClientBase(ClientBaseConfiguration configuration) : base(configuration) { }
        /// <summary>A client on channel.</summary>
        protected ClientBase(ChannelBase channel) : base(channel) { }
        /// <summary>A client on callInvoker.</summary>
        protected ClientBase(CallInvoker callInvoker) : base(callInvoker) { }

        /// <summary>A copy whose calls carry this :authority.</summary>
        public T WithHost(string host)
        {
            if (host == null) throw new ArgumentNullException("host");
            return NewInstance(new ClientBaseConfiguration(Configuration.CallInvoker, host));
        }

        /// <summary>Creates a client of the derived type (generated code implements it).</summary>
        protected abstract T NewInstance(ClientBaseConfiguration configuration);
    }
}
