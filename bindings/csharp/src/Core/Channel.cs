// Client channels, as in Grpc.Core: Channel(target, credentials, options), its state, and the
// CallInvoker that makes calls on it.
using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using PolyRpc.Core.Internal;
using PolyRpc.Native;
using N = PolyRpc.Native.PolyRpcNative;

namespace PolyRpc.Core
{
    /// <summary>Connectivity state of a channel.</summary>
    public enum ChannelState
    {
        /// <summary>Not connecting (connects on the next call).</summary>
        Idle = 0,
        /// <summary>Connecting.</summary>
        Connecting = 1,
        /// <summary>Connected.</summary>
        Ready = 2,
        /// <summary>The last attempt failed; retrying with backoff.</summary>
        TransientFailure = 3,
        /// <summary>Shut down.</summary>
        Shutdown = 4
    }

    /// <summary>The type of a ChannelOption's value.</summary>
    public enum ChannelOptionType
    {
        /// <summary>An integer.</summary>
        Integer,
        /// <summary>A string.</summary>
        String
    }

    /// <summary>A channel or server option under its gRPC channel-argument name
    /// ("grpc.max_receive_message_length", ...). Unknown names are ignored, as in gRPC.</summary>
    public sealed class ChannelOption
    {
        /// <summary>An integer option.</summary>
        public ChannelOption(string name, int intValue)
        {
            if (name == null) throw new ArgumentNullException("name");
            Name = name;
            Type = ChannelOptionType.Integer;
            IntValue = intValue;
        }

        /// <summary>A string option.</summary>
        public ChannelOption(string name, string stringValue)
        {
            if (name == null) throw new ArgumentNullException("name");
            if (stringValue == null) throw new ArgumentNullException("stringValue");
            Name = name;
            Type = ChannelOptionType.String;
            StringValue = stringValue;
        }

        /// <summary>The option's name.</summary>
        public string Name { get; private set; }
        /// <summary>Integer or string.</summary>
        public ChannelOptionType Type { get; private set; }
        /// <summary>The integer value.</summary>
        public int IntValue { get; private set; }
        /// <summary>The string value.</summary>
        public string StringValue { get; private set; }

        internal static OptionsHandle ToNative(IEnumerable<ChannelOption> options)
        {
            if (options == null) return null;
            var h = OptionsHandle.Create();
            IntPtr p = h.Use();
            try
            {
                foreach (var o in options)
                {
                    if (o == null) throw new ArgumentNullException("options");
                    if (o.Type == ChannelOptionType.Integer) N.polyrpc_options_set_int(p, o.Name, o.IntValue);
                    else N.polyrpc_options_set_string(p, o.Name, o.StringValue);
                }
            }
            catch (NativeException e)
            {
                h.Done();
                h.Dispose();
                throw new ArgumentException("channel option: " + e.Message);
            }
            h.Done();
            return h;
        }
    }

    /// <summary>Names of common channel options.</summary>
    public static class ChannelOptions
    {
        /// <summary>Overrides the name the TLS certificate is checked against (testing).</summary>
        public const string SslTargetNameOverride = "grpc.ssl_target_name_override";
        /// <summary>The :authority of calls.</summary>
        public const string DefaultAuthority = "grpc.default_authority";
        /// <summary>Maximum concurrent streams per connection (servers).</summary>
        public const string MaxConcurrentStreams = "grpc.max_concurrent_streams";
        /// <summary>Maximum size of a received message, bytes (-1: unlimited).</summary>
        public const string MaxReceiveMessageLength = "grpc.max_receive_message_length";
        /// <summary>Maximum size of a sent message, bytes (-1: unlimited).</summary>
        public const string MaxSendMessageLength = "grpc.max_send_message_length";
        /// <summary>The user agent's first part.</summary>
        public const string PrimaryUserAgentString = "grpc.primary_user_agent";
    }

    /// <summary>Base of channels: a target and a way to make calls.</summary>
    public abstract class ChannelBase
    {
        /// <summary>Creates a channel base for target.</summary>
        protected ChannelBase(string target) { Target = target; }

        /// <summary>The target given at creation.</summary>
        public string Target { get; private set; }

        /// <summary>A CallInvoker that makes calls on this channel.</summary>
        public abstract CallInvoker CreateCallInvoker();

        /// <summary>Cancels every call and closes the channel.</summary>
        public Task ShutdownAsync() { return ShutdownAsyncCore(); }

        /// <summary>What ShutdownAsync does.</summary>
        protected virtual Task ShutdownAsyncCore() { return Task.FromResult(0); }
    }

    /// <summary>A channel to one target over polyrpc: connects lazily, reconnects with backoff,
    /// multiplexes calls on one HTTP/2 connection. Thread-safe.</summary>
    public class Channel : ChannelBase
    {
        readonly ChannelHandle handle;
        readonly CallCredentials callCredentials;
        int shutdownStarted;

        /// <summary>Creates a channel to target ("host:port", "dns:///host:port", "unix:/path").</summary>
        public Channel(string target, ChannelCredentials credentials) : this(target, credentials, null) { }

        /// <summary>Creates a channel to host:port.</summary>
        public Channel(string host, int port, ChannelCredentials credentials)
            : this(host + ":" + port, credentials, null) { }

        /// <summary>Creates a channel to host:port with options.</summary>
        public Channel(string host, int port, ChannelCredentials credentials, IEnumerable<ChannelOption> options)
            : this(host + ":" + port, credentials, options) { }

        /// <summary>Creates a channel to target with options.</summary>
        public Channel(string target, ChannelCredentials credentials, IEnumerable<ChannelOption> options)
            : base(target)
        {
            if (target == null) throw new ArgumentNullException("target");
            if (credentials == null) throw new ArgumentNullException("credentials");
            callCredentials = credentials.CallCredentials;
            using (var creds = credentials.CreateNative())
            using (var opts = ChannelOption.ToNative(options))
            {
                IntPtr c = creds.Use();
                IntPtr o = opts == null ? IntPtr.Zero : opts.Use();
                try
                {
                    IntPtr ch;
                    N.polyrpc_channel_create(target, c, o, out ch);
                    handle = ChannelHandle.Wrap(ch);
                }
                catch (NativeException e)
                {
                    throw new ArgumentException("cannot create a channel to \"" + target + "\": " + e.Message);
                }
                finally
                {
                    creds.Done();
                    if (opts != null) opts.Done();
                }
            }
        }

        internal ChannelHandle Handle { get { return handle; } }
        internal CallCredentials CallCredentials { get { return callCredentials; } }

        /// <summary>The current connectivity state (does not start connecting).</summary>
        public ChannelState State { get { return GetState(false); } }

        ChannelState GetState(bool tryToConnect)
        {
            IntPtr p;
            try
            {
                p = handle.Use();
            }
            catch (ObjectDisposedException)
            {
                return ChannelState.Shutdown;
            }
            try
            {
                int s;
                N.polyrpc_channel_get_state(p, tryToConnect ? 1 : 0, out s);
                return (ChannelState)s;
            }
            catch (NativeException)
            {
                return ChannelState.Shutdown;
            }
            finally
            {
                handle.Done();
            }
        }

        /// <summary>Completes with true once the state differs from lastObservedState, false at
        /// the deadline. Waits on the completion queue: no thread is blocked.</summary>
        public Task<bool> TryWaitForStateChangedAsync(ChannelState lastObservedState, DateTime? deadline = null)
        {
            var tcs = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            var queue = Runtime.Queue;
            IntPtr p = handle.Use(); // ObjectDisposedException once shut down
            IntPtr q = queue.Handle.Use();
            try
            {
                IntPtr tag = CompletionQueue.NewTag(new ActionOperation(ok => tcs.TrySetResult(ok)));
                try
                {
                    N.polyrpc_channel_watch_state(p, (polyrpc_connectivity_state_t)lastObservedState,
                                                  Deadlines.ToTimeoutMs(deadline), q, tag);
                }
                catch (NativeException e)
                {
                    tcs.TrySetException(Errors.Translate(e, "cannot watch the channel"));
                    CompletionQueue.NotStarted(tag);
                }
            }
            finally
            {
                queue.Handle.Done();
                handle.Done();
            }
            return tcs.Task;
        }

        /// <summary>Completes once the state differs from lastObservedState; canceled
        /// (TaskCanceledException) at the deadline.</summary>
        public async Task WaitForStateChangedAsync(ChannelState lastObservedState, DateTime? deadline = null)
        {
            if (!await TryWaitForStateChangedAsync(lastObservedState, deadline).ConfigureAwait(false))
                throw new TaskCanceledException("the channel's state did not change before the deadline");
        }

        /// <summary>Connects and completes once Ready; fails if the channel shuts down, and is
        /// canceled at the deadline.</summary>
        public async Task ConnectAsync(DateTime? deadline = null)
        {
            var state = GetState(true);
            while (state != ChannelState.Ready)
            {
                if (state == ChannelState.Shutdown) throw new OperationCanceledException("the channel is shut down");
                await WaitForStateChangedAsync(state, deadline).ConfigureAwait(false);
                state = GetState(true);
            }
        }

        /// <inheritdoc/>
        public override CallInvoker CreateCallInvoker() { return new DefaultCallInvoker(this); }

        /// <summary>Cancels every call and closes the channel (on a thread of its own: closing
        /// waits up to 2 s for the state to say so), then releases the native channel.</summary>
        protected override Task ShutdownAsyncCore()
        {
            if (Interlocked.Exchange(ref shutdownStarted, 1) != 0) return Task.FromResult(0);
            return Task.Factory.StartNew(() =>
            {
                IntPtr p = handle.Use();
                try
                {
                    N.polyrpc_channel_close(p);
                }
                catch (NativeException)
                {
                    // Already closed by polyrpc_shutdown: nothing left to close.
                }
                finally
                {
                    handle.Done();
                }
                handle.Dispose();
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
    }

    internal static class Deadlines
    {
        /// <summary>Milliseconds until deadline for the C ABI (-1: none; 0 if passed).</summary>
        internal static long ToTimeoutMs(DateTime? deadline)
        {
            if (deadline == null || deadline.Value == DateTime.MaxValue) return -1;
            var d = deadline.Value;
            if (d.Kind == DateTimeKind.Local) d = d.ToUniversalTime();
            double ms = (d - DateTime.UtcNow).TotalMilliseconds;
            if (ms <= 0) return 0;
            if (ms >= long.MaxValue / 2) return -1;
            return (long)Math.Ceiling(ms);
        }
    }
}
