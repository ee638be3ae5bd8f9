// The client call objects, as in Grpc.Core: AsyncUnaryCall, AsyncServerStreamingCall,
// AsyncClientStreamingCall, AsyncDuplexStreamingCall, and the stream interfaces.
using System;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;

namespace PolyRpc.Core
{
    /// <summary>Reads a stream of messages: MoveNext, then Current.</summary>
    public interface IAsyncStreamReader<out T>
    {
        /// <summary>The message MoveNext last moved to.</summary>
        T Current { get; }

        /// <summary>Moves to the next message: true if there is one, false at the end of the
        /// stream. Throws RpcException if the call ended with a status other than OK. Cancelling
        /// the token cancels the call.</summary>
        Task<bool> MoveNext(CancellationToken cancellationToken);
    }

    /// <summary>Writes a stream of messages, one pending write at a time.</summary>
    public interface IAsyncStreamWriter<in T>
    {
        /// <summary>Writes a message; completes once it is handed to the transport.</summary>
        Task WriteAsync(T message);

        /// <summary>Options of the following writes (null: the call's).</summary>
        WriteOptions WriteOptions { get; set; }
    }

    /// <summary>The request stream of a client call.</summary>
    public interface IClientStreamWriter<in T> : IAsyncStreamWriter<T>
    {
        /// <summary>Half-closes the stream: no more requests.</summary>
        Task CompleteAsync();
    }

    /// <summary>The response stream of a server handler.</summary>
    public interface IServerStreamWriter<in T> : IAsyncStreamWriter<T>
    {
    }

    /// <summary>Helpers over stream readers and writers.</summary>
    public static class AsyncStreamExtensions
    {
        /// <summary>MoveNext without a token.</summary>
        public static Task<bool> MoveNext<T>(this IAsyncStreamReader<T> streamReader)
        {
            if (streamReader == null) throw new ArgumentNullException("streamReader");
            return streamReader.MoveNext(CancellationToken.None);
        }

        /// <summary>Runs action for every message of the stream.</summary>
        public static async Task ForEachAsync<T>(this IAsyncStreamReader<T> streamReader, Func<T, Task> asyncAction)
        {
            while (await streamReader.MoveNext(CancellationToken.None).ConfigureAwait(false))
                await asyncAction(streamReader.Current).ConfigureAwait(false);
        }

        /// <summary>Reads the whole stream into a list.</summary>
        public static async Task<System.Collections.Generic.List<T>> ToListAsync<T>(this IAsyncStreamReader<T> streamReader)
        {
            var result = new System.Collections.Generic.List<T>();
            while (await streamReader.MoveNext(CancellationToken.None).ConfigureAwait(false))
                result.Add(streamReader.Current);
            return result;
        }

        /// <summary>Writes every message, then (completeAfter) half-closes.</summary>
        public static async Task WriteAllAsync<T>(this IClientStreamWriter<T> streamWriter,
                                                  System.Collections.Generic.IEnumerable<T> messages,
                                                  bool completeAfter = true)
        {
            foreach (var m in messages) await streamWriter.WriteAsync(m).ConfigureAwait(false);
            if (completeAfter) await streamWriter.CompleteAsync().ConfigureAwait(false);
        }

        /// <summary>Writes every message.</summary>
        public static async Task WriteAllAsync<T>(this IServerStreamWriter<T> streamWriter,
                                                  System.Collections.Generic.IEnumerable<T> messages)
        {
            foreach (var m in messages) await streamWriter.WriteAsync(m).ConfigureAwait(false);
        }
    }

    /// <summary>An asynchronous unary call: await it (or ResponseAsync) for the response.
    /// Dispose cancels it if it is still in progress.</summary>
    public sealed class AsyncUnaryCall<TResponse> : IDisposable
    {
        readonly Task<TResponse> responseAsync;
        readonly Lazy<Task<Metadata>> responseHeadersAsync;
        readonly Func<Status> getStatusFunc;
        readonly Func<Metadata> getTrailersFunc;
        readonly Action disposeAction;

        /// <summary>Creates a call object (interceptors wrap calls this way).</summary>
        public AsyncUnaryCall(Task<TResponse> responseAsync, Task<Metadata> responseHeadersAsync,
                              Func<Status> getStatusFunc, Func<Metadata> getTrailersFunc, Action disposeAction)
            : this(responseAsync, () => responseHeadersAsync, getStatusFunc, getTrailersFunc, disposeAction) { }

        internal AsyncUnaryCall(Task<TResponse> responseAsync, Func<Task<Metadata>> responseHeadersAsync,
                                Func<Status> getStatusFunc, Func<Metadata> getTrailersFunc, Action disposeAction)
        {
            this.responseAsync = responseAsync;
            this.responseHeadersAsync = new Lazy<Task<Metadata>>(responseHeadersAsync);
            this.getStatusFunc = getStatusFunc;
            this.getTrailersFunc = getTrailersFunc;
            this.disposeAction = disposeAction;
        }

        /// <summary>The response; faults with RpcException if the status is not OK.</summary>
        public Task<TResponse> ResponseAsync { get { return responseAsync; } }

        /// <summary>The response headers, once they arrive.</summary>
        public Task<Metadata> ResponseHeadersAsync { get { return responseHeadersAsync.Value; } }

        /// <summary>Awaits the response.</summary>
        public TaskAwaiter<TResponse> GetAwaiter() { return responseAsync.GetAwaiter(); }

        /// <summary>Awaits the response, with or without the captured context.</summary>
        public ConfiguredTaskAwaitable<TResponse> ConfigureAwait(bool continueOnCapturedContext)
        {
            return responseAsync.ConfigureAwait(continueOnCapturedContext);
        }

        /// <summary>The status; only once the call has finished.</summary>
        public Status GetStatus() { return getStatusFunc(); }

        /// <summary>The trailers; only once the call has finished.</summary>
        public Metadata GetTrailers() { return getTrailersFunc(); }

        /// <summary>Cancels the call if it is still in progress, and releases it.</summary>
        public void Dispose() { if (disposeAction != null) disposeAction(); }
    }

    /// <summary>An asynchronous server-streaming call: read ResponseStream.</summary>
    public sealed class AsyncServerStreamingCall<TResponse> : IDisposable
    {
        readonly IAsyncStreamReader<TResponse> responseStream;
        readonly Lazy<Task<Metadata>> responseHeadersAsync;
        readonly Func<Status> getStatusFunc;
        readonly Func<Metadata> getTrailersFunc;
        readonly Action disposeAction;

        /// <summary>Creates a call object (interceptors wrap calls this way).</summary>
        public AsyncServerStreamingCall(IAsyncStreamReader<TResponse> responseStream, Task<Metadata> responseHeadersAsync,
                                        Func<Status> getStatusFunc, Func<Metadata> getTrailersFunc, Action disposeAction)
            : this(responseStream, () => responseHeadersAsync, getStatusFunc, getTrailersFunc, disposeAction) { }

        internal AsyncServerStreamingCall(IAsyncStreamReader<TResponse> responseStream, Func<Task<Metadata>> responseHeadersAsync,
                                          Func<Status> getStatusFunc, Func<Metadata> getTrailersFunc, Action disposeAction)
        {
            this.responseStream = responseStream;
            this.responseHeadersAsync = new Lazy<Task<Metadata>>(responseHeadersAsync);
            this.getStatusFunc = getStatusFunc;
            this.getTrailersFunc = getTrailersFunc;
            this.disposeAction = disposeAction;
        }

        /// <summary>The responses.</summary>
        public IAsyncStreamReader<TResponse> ResponseStream { get { return responseStream; } }
        /// <summary>The response headers, once they arrive.</summary>
        public Task<Metadata> ResponseHeadersAsync { get { return responseHeadersAsync.Value; } }
        /// <summary>The status; only once the call has finished.</summary>
        public Status GetStatus() { return getStatusFunc(); }
        /// <summary>The trailers; only once the call has finished.</summary>
        public Metadata GetTrailers() { return getTrailersFunc(); }
        /// <summary>Cancels the call if it is still in progress, and releases it.</summary>
        public void Dispose() { if (disposeAction != null) disposeAction(); }
    }

    /// <summary>An asynchronous client-streaming call: write RequestStream, then await the response.</summary>
    public sealed class AsyncClientStreamingCall<TRequest, TResponse> : IDisposable
    {
        readonly IClientStreamWriter<TRequest> requestStream;
        readonly Task<TResponse> responseAsync;
        readonly Lazy<Task<Metadata>> responseHeadersAsync;
        readonly Func<Status> getStatusFunc;
        readonly Func<Metadata> getTrailersFunc;
        readonly Action disposeAction;

        /// <summary>Creates a call object (interceptors wrap calls this way).</summary>
        public AsyncClientStreamingCall(IClientStreamWriter<TRequest> requestStream, Task<TResponse> responseAsync,
                                        Task<Metadata> responseHeadersAsync, Func<Status> getStatusFunc,
                                        Func<Metadata> getTrailersFunc, Action disposeAction)
            : this(requestStream, responseAsync, () => responseHeadersAsync, getStatusFunc, getTrailersFunc, disposeAction) { }

        internal AsyncClientStreamingCall(IClientStreamWriter<TRequest> requestStream, Task<TResponse> responseAsync,
                                          Func<Task<Metadata>> responseHeadersAsync, Func<Status> getStatusFunc,
                                          Func<Metadata> getTrailersFunc, Action disposeAction)
        {
            this.requestStream = requestStream;
            this.responseAsync = responseAsync;
            this.responseHeadersAsync = new Lazy<Task<Metadata>>(responseHeadersAsync);
            this.getStatusFunc = getStatusFunc;
            this.getTrailersFunc = getTrailersFunc;
            this.disposeAction = disposeAction;
        }

        /// <summary>The requests.</summary>
        public IClientStreamWriter<TRequest> RequestStream { get { return requestStream; } }
        /// <summary>The response; faults with RpcException if the status is not OK.</summary>
        public Task<TResponse> ResponseAsync { get { return responseAsync; } }
        /// <summary>The response headers, once they arrive.</summary>
        public Task<Metadata> ResponseHeadersAsync { get { return responseHeadersAsync.Value; } }
        /// <summary>Awaits the response.</summary>
        public TaskAwaiter<TResponse> GetAwaiter() { return responseAsync.GetAwaiter(); }
        /// <summary>Awaits the response, with or without the captured context.</summary>
        public ConfiguredTaskAwaitable<TResponse> ConfigureAwait(bool continueOnCapturedContext)
        {
            return responseAsync.ConfigureAwait(continueOnCapturedContext);
        }
        /// <summary>The status; only once the call has finished.</summary>
        public Status GetStatus() { return getStatusFunc(); }
        /// <summary>The trailers; only once the call has finished.</summary>
        public Metadata GetTrailers() { return getTrailersFunc(); }
        /// <summary>Cancels the call if it is still in progress, and releases it.</summary>
        public void Dispose() { if (disposeAction != null) disposeAction(); }
    }

    /// <summary>An asynchronous duplex-streaming call.</summary>
    public sealed class AsyncDuplexStreamingCall<TRequest, TResponse> : IDisposable
    {
        readonly IClientStreamWriter<TRequest> requestStream;
        readonly IAsyncStreamReader<TResponse> responseStream;
        readonly Lazy<Task<Metadata>> responseHeadersAsync;
        readonly Func<Status> getStatusFunc;
        readonly Func<Metadata> getTrailersFunc;
        readonly Action disposeAction;

        /// <summary>Creates a call object (interceptors wrap calls this way).</summary>
        public AsyncDuplexStreamingCall(IClientStreamWriter<TRequest> requestStream, IAsyncStreamReader<TResponse> responseStream,
                                        Task<Metadata> responseHeadersAsync, Func<Status> getStatusFunc,
                                        Func<Metadata> getTrailersFunc, Action disposeAction)
            : this(requestStream, responseStream, () => responseHeadersAsync, getStatusFunc, getTrailersFunc, disposeAction) { }

        internal AsyncDuplexStreamingCall(IClientStreamWriter<TRequest> requestStream, IAsyncStreamReader<TResponse> responseStream,
                                          Func<Task<Metadata>> responseHeadersAsync, Func<Status> getStatusFunc,
                                          Func<Metadata> getTrailersFunc, Action disposeAction)
        {
            this.requestStream = requestStream;
            this.responseStream = responseStream;
            this.responseHeadersAsync = new Lazy<Task<Metadata>>(responseHeadersAsync);
            this.getStatusFunc = getStatusFunc;
            this.getTrailersFunc = getTrailersFunc;
            this.disposeAction = disposeAction;
        }

        /// <summary>The requests.</summary>
        public IClientStreamWriter<TRequest> RequestStream { get { return requestStream; } }
        /// <summary>The responses.</summary>
        public IAsyncStreamReader<TResponse> ResponseStream { get { return responseStream; } }
        /// <summary>The response headers, once they arrive.</summary>
        public Task<Metadata> ResponseHeadersAsync { get { return responseHeadersAsync.Value; } }
        /// <summary>The status; only once the call has finished.</summary>
        public Status GetStatus() { return getStatusFunc(); }
        /// <summary>The trailers; only once the call has finished.</summary>
        public Metadata GetTrailers() { return getTrailersFunc(); }
        /// <summary>Cancels the call if it is still in progress, and releases it.</summary>
        public void Dispose() { if (disposeAction != null) disposeAction(); }
    }
}
