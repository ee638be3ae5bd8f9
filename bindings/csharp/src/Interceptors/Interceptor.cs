// Interceptors, as in Grpc.Core.Interceptors: one base class whose virtual methods see every kind
// of call on the client (wrapping a CallInvoker) and every kind of handler on the server (wrapping
// a ServerServiceDefinition). The defaults just call the continuation.
using System;
using System.Linq;
using System.Threading.Tasks;

namespace PolyRpc.Core.Interceptors
{
    /// <summary>What a client interceptor knows of the call it sees.</summary>
    public struct ClientInterceptorContext<TRequest, TResponse>
        where TRequest : class where TResponse : class
    {
        /// <summary>Creates a context.</summary>
        public ClientInterceptorContext(Method<TRequest, TResponse> method, string host, CallOptions options)
        {
            Method = method;
            Host = host;
            Options = options;
        }

        /// <summary>The method called.</summary>
        public Method<TRequest, TResponse> Method { get; private set; }
        /// <summary>The :authority override (null: the channel's).</summary>
        public string Host { get; private set; }
        /// <summary>The call's options.</summary>
        public CallOptions Options { get; private set; }
    }

    /// <summary>Intercepts calls on the client and handlers on the server. Override what you need.</summary>
    public abstract class Interceptor
    {
        /// <summary>The next step of a blocking unary call.</summary>
        public delegate TResponse BlockingUnaryCallContinuation<TRequest, TResponse>(
            TRequest request, ClientInterceptorContext<TRequest, TResponse> context)
            where TRequest : class where TResponse : class;

        /// <summary>The next step of an async unary call.</summary>
        public delegate AsyncUnaryCall<TResponse> AsyncUnaryCallContinuation<TRequest, TResponse>(
            TRequest request, ClientInterceptorContext<TRequest, TResponse> context)
            where TRequest : class where TResponse : class;

        /// <summary>The next step of a server-streaming call.</summary>
        public delegate AsyncServerStreamingCall<TResponse> AsyncServerStreamingCallContinuation<TRequest, TResponse>(
            TRequest request, ClientInterceptorContext<TRequest, TResponse> context)
            where TRequest : class where TResponse : class;

        /// <summary>The next step of a client-streaming call.</summary>
        public delegate AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCallContinuation<TRequest, TResponse>(
            ClientInterceptorContext<TRequest, TResponse> context)
            where TRequest : class where TResponse : class;

        /// <summary>The next step of a duplex-streaming call.</summary>
        public delegate AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCallContinuation<TRequest, TResponse>(
            ClientInterceptorContext<TRequest, TResponse> context)
            where TRequest : class where TResponse : class;

        /// <summary>Intercepts a blocking unary call.</summary>
        public virtual TResponse BlockingUnaryCall<TRequest, TResponse>(TRequest request,
            ClientInterceptorContext<TRequest, TResponse> context, BlockingUnaryCallContinuation<TRequest, TResponse> continuation)
            where TRequest : class where TResponse : class
        { return continuation(request, context); }

        /// <summary>Intercepts an async unary call.</summary>
        public virtual AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request,
            ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
            where TRequest : class where TResponse : class
        { return continuation(request, context); }

        /// <summary>Intercepts a server-streaming call.</summary>
        public virtual AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(TRequest request,
            ClientInterceptorContext<TRequest, TResponse> context,
            AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation)
            where TRequest : class where TResponse : class
        { return continuation(request, context); }

        /// <summary>Intercepts a client-streaming call.</summary>
        public virtual AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(
            ClientInterceptorContext<TRequest, TResponse> context,
            AsyncClientStreamingCallContinuation<TRequest, TResponse> continuation)
            where TRequest : class where TResponse : class
        { return continuation(context); }

        /// <summary>Intercepts a duplex-streaming call.</summary>
        public virtual AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(
            ClientInterceptorContext<TRequest, TResponse> context,
            AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation)
            where TRequest : class where TResponse : class
        { return continuation(context); }

        /// <summary>Intercepts a unary handler.</summary>
        public virtual Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
            UnaryServerMethod<TRequest, TResponse> continuation)
            where TRequest : class where TResponse : class
        { return continuation(request, context); }

        /// <summary>Intercepts a client-streaming handler.</summary>
        public virtual Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
            IAsyncStreamReader<TRequest> requestStream, ServerCallContext context,
            ClientStreamingServerMethod<TRequest, TResponse> continuation)
            where TRequest : class where TResponse : class
        { return continuation(requestStream, context); }

        /// <summary>Intercepts a server-streaming handler.</summary>
        public virtual Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request,
            IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
            ServerStreamingServerMethod<TRequest, TResponse> continuation)
            where TRequest : class where TResponse : class
        { return continuation(request, responseStream, context); }

        /// <summary>Intercepts a duplex-streaming handler.</summary>
        public virtual Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
            IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
            DuplexStreamingServerMethod<TRequest, TResponse> continuation)
            where TRequest : class where TResponse : class
        { return continuation(requestStream, responseStream, context); }
    }

    /// <summary>A CallInvoker that runs every call through an interceptor.</summary>
    internal sealed class InterceptingCallInvoker : CallInvoker
    {
        readonly CallInvoker invoker;
        readonly Interceptor interceptor;

        internal InterceptingCallInvoker(CallInvoker invoker, Interceptor interceptor)
        {
            this.invoker = invoker;
            this.interceptor = interceptor;
        }

        public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string host,
                                                                        CallOptions options, TRequest request)
        {
            return interceptor.BlockingUnaryCall(request, new ClientInterceptorContext<TRequest, TResponse>(method, host, options),
                (req, ctx) => invoker.BlockingUnaryCall(ctx.Method, ctx.Host, ctx.Options, req));
        }

        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method,
                                                                                     string host, CallOptions options, TRequest request)
        {
            return interceptor.AsyncUnaryCall(request, new ClientInterceptorContext<TRequest, TResponse>(method, host, options),
                (req, ctx) => invoker.AsyncUnaryCall(ctx.Method, ctx.Host, ctx.Options, req));
        }

        public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(
            Method<TRequest, TResponse> method, string host, CallOptions options, TRequest request)
        {
            return interceptor.AsyncServerStreamingCall(request, new ClientInterceptorContext<TRequest, TResponse>(method, host, options),
                (req, ctx) => invoker.AsyncServerStreamingCall(ctx.Method, ctx.Host, ctx.Options, req));
        }

        public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(
            Method<TRequest, TResponse> method, string host, CallOptions options)
        {
            return interceptor.AsyncClientStreamingCall(new ClientInterceptorContext<TRequest, TResponse>(method, host, options),
                ctx => invoker.AsyncClientStreamingCall(ctx.Method, ctx.Host, ctx.Options));
        }

        public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(
            Method<TRequest, TResponse> method, string host, CallOptions options)
        {
            return interceptor.AsyncDuplexStreamingCall(new ClientInterceptorContext<TRequest, TResponse>(method, host, options),
                ctx => invoker.AsyncDuplexStreamingCall(ctx.Method, ctx.Host, ctx.Options));
        }
    }

    /// <summary>An interceptor that rewrites the request headers.</summary>
    internal sealed class MetadataInterceptor : Interceptor
    {
        readonly Func<Metadata, Metadata> interceptor;

        internal MetadataInterceptor(Func<Metadata, Metadata> interceptor) { this.interceptor = interceptor; }

        ClientInterceptorContext<TRequest, TResponse> Rewrite<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> c)
            where TRequest : class where TResponse : class
        {
            var headers = interceptor(c.Options.Headers ?? new Metadata());
            return new ClientInterceptorContext<TRequest, TResponse>(c.Method, c.Host, c.Options.WithHeaders(headers));
        }

        public override TResponse BlockingUnaryCall<TRequest, TResponse>(TRequest request,
            ClientInterceptorContext<TRequest, TResponse> context, BlockingUnaryCallContinuation<TRequest, TResponse> continuation)
        { return continuation(request, Rewrite(context)); }

        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request,
            ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
        { return continuation(request, Rewrite(context)); }

        public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(TRequest request,
            ClientInterceptorContext<TRequest, TResponse> context,
            AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation)
        { return continuation(request, Rewrite(context)); }

        public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(
            ClientInterceptorContext<TRequest, TResponse> context,
            AsyncClientStreamingCallContinuation<TRequest, TResponse> continuation)
        { return continuation(Rewrite(context)); }

        public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(
            ClientInterceptorContext<TRequest, TResponse> context,
            AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation)
        { return continuation(Rewrite(context)); }
    }

    /// <summary>Intercept on CallInvoker, as in Grpc.Core.</summary>
    public static class CallInvokerExtensions
    {
        /// <summary>An invoker whose calls go through interceptor first.</summary>
        public static CallInvoker Intercept(this CallInvoker invoker, Interceptor interceptor)
        {
            if (invoker == null) throw new ArgumentNullException("invoker");
            if (interceptor == null) throw new ArgumentNullException("interceptor");
            return new InterceptingCallInvoker(invoker, interceptor);
        }

        /// <summary>An invoker whose calls go through the interceptors, the first one outermost.</summary>
        public static CallInvoker Intercept(this CallInvoker invoker, params Interceptor[] interceptors)
        {
            if (invoker == null) throw new ArgumentNullException("invoker");
            if (interceptors == null) throw new ArgumentNullException("interceptors");
            foreach (var i in interceptors.Reverse()) invoker = Intercept(invoker, i);
            return invoker;
        }

        /// <summary>An invoker whose calls carry the headers interceptor returns.</summary>
        public static CallInvoker Intercept(this CallInvoker invoker, Func<Metadata, Metadata> interceptor)
        {
            if (interceptor == null) throw new ArgumentNullException("interceptor");
            return Intercept(invoker, new MetadataInterceptor(interceptor));
        }
    }

    /// <summary>Intercept on channels, as in Grpc.Core.</summary>
    public static class ChannelExtensions
    {
        /// <summary>An invoker on channel whose calls go through interceptor first.</summary>
        public static CallInvoker Intercept(this ChannelBase channel, Interceptor interceptor)
        {
            if (channel == null) throw new ArgumentNullException("channel");
            return channel.CreateCallInvoker().Intercept(interceptor);
        }

        /// <summary>An invoker on channel through the interceptors, the first one outermost.</summary>
        public static CallInvoker Intercept(this ChannelBase channel, params Interceptor[] interceptors)
        {
            if (channel == null) throw new ArgumentNullException("channel");
            return channel.CreateCallInvoker().Intercept(interceptors);
        }

        /// <summary>An invoker on channel whose calls carry the headers interceptor returns.</summary>
        public static CallInvoker Intercept(this ChannelBase channel, Func<Metadata, Metadata> interceptor)
        {
            if (channel == null) throw new ArgumentNullException("channel");
            return channel.CreateCallInvoker().Intercept(interceptor);
        }
    }

    /// <summary>Intercept on service definitions, as in Grpc.Core.</summary>
    public static class ServerServiceDefinitionExtensions
    {
        /// <summary>The service with every handler running through interceptor first.</summary>
        public static ServerServiceDefinition Intercept(this ServerServiceDefinition serverServiceDefinition, Interceptor interceptor)
        {
            if (serverServiceDefinition == null) throw new ArgumentNullException("serverServiceDefinition");
            if (interceptor == null) throw new ArgumentNullException("interceptor");
            return serverServiceDefinition.Intercept(interceptor);
        }

        /// <summary>The service with its handlers behind the interceptors, the first one outermost.</summary>
        public static ServerServiceDefinition Intercept(this ServerServiceDefinition serverServiceDefinition,
                                                        params Interceptor[] interceptors)
        {
            if (serverServiceDefinition == null) throw new ArgumentNullException("serverServiceDefinition");
            if (interceptors == null) throw new ArgumentNullException("interceptors");
            foreach (var i in interceptors.Reverse()) serverServiceDefinition = Intercept(serverServiceDefinition, i);
            return serverServiceDefinition;
        }
    }
}
