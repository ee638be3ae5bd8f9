// The server, as in Grpc.Core: Services and Ports collections, Start, ShutdownAsync, KillAsync.
// Incoming calls are asked for with polyrpc_server_request_call_v2 on the completion queue (a
// number of requests always pending); the completion thread takes each call
// (polyrpc_server_take_call), asks for the next, and hands the call to the thread pool, where
// its handler runs. Handlers never run on a completion thread or an I/O thread.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using PolyRpc.Core.Internal;
using PolyRpc.Native;
using N = PolyRpc.Native.PolyRpcNative;

namespace PolyRpc.Core
{
    /// <summary>A port to listen on.</summary>
    public class ServerPort
    {
        /// <summary>Port 0: let the system pick a free port (see BoundPort).</summary>
        public const int PickUnused = 0;

        /// <summary>Listen on host:port.</summary>
        public ServerPort(string host, int port, ServerCredentials credentials)
        {
            if (host == null) throw new ArgumentNullException("host");
            if (credentials == null) throw new ArgumentNullException("credentials");
            Host = host;
            Port = port;
            Credentials = credentials;
        }

        /// <summary>The host ("127.0.0.1", "0.0.0.0", "[::]", "localhost").</summary>
        public string Host { get; private set; }
        /// <summary>The port asked for.</summary>
        public int Port { get; private set; }
        /// <summary>The transport security.</summary>
        public ServerCredentials Credentials { get; private set; }
        /// <summary>The port actually bound (after Server.Ports.Add).</summary>
        public int BoundPort { get; internal set; }
    }

    /// <summary>A gRPC server over polyrpc.</summary>
    public class Server
    {
        /// <summary>How many incoming-call requests are kept pending.</summary>
        const int PendingRequests = 32;

        readonly ServerHandle handle;
        readonly object sync = new object();
        readonly Dictionary<string, ServerMethodEntry> methods = new Dictionary<string, ServerMethodEntry>();
        readonly ServiceDefinitionCollection services;
        readonly ServerPortCollection ports;
        readonly TaskCompletionSource<bool> shutdownTcs = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        CompletionQueue queue;
        HealthService health;
        bool started, shutdownStarted;
        int activeRequests;

        /// <summary>A server with default options.</summary>
        public Server() : this(null) { }

        /// <summary>A server with options (gRPC names: "grpc.max_receive_message_length", ...).</summary>
        public Server(IEnumerable<ChannelOption> options)
        {
            using (var opts = ChannelOption.ToNative(options))
            {
                IntPtr o = opts == null ? IntPtr.Zero : opts.Use();
                try
                {
                    IntPtr p;
                    N.polyrpc_server_create(o, out p);
                    handle = ServerHandle.Wrap(p);
                }
                catch (NativeException e)
                {
                    throw Errors.Translate(e, "cannot create a server");
                }
                finally
                {
                    if (opts != null) opts.Done();
                }
            }
            services = new ServiceDefinitionCollection(this);
            ports = new ServerPortCollection(this);
        }

        /// <summary>The services; add them before Start.</summary>
        public ServiceDefinitionCollection Services { get { return services; } }

        /// <summary>The ports; add them before Start (each is bound when added).</summary>
        public ServerPortCollection Ports { get { return ports; } }

        /// <summary>Completes when the server has shut down.</summary>
        public Task ShutdownTask { get { return shutdownTcs.Task; } }

        void AddService(ServerServiceDefinition service)
        {
            lock (sync)
            {
                if (started) throw new InvalidOperationException("services must be added before Start");
                foreach (var m in service.Methods)
                {
                    if (methods.ContainsKey(m.FullName)) throw new ArgumentException("method " + m.FullName + " is already served");
                }
                IntPtr s = handle.Use();
                try
                {
                    foreach (var m in service.Methods)
                    {
                        N.polyrpc_server_register_method(s, m.FullName);
                        methods[m.FullName] = m;
                    }
                }
                catch (NativeException e)
                {
                    throw Errors.Translate(e, "cannot register a method");
                }
                finally
                {
                    handle.Done();
                }
            }
        }

        int AddPort(ServerPort port)
        {
            lock (sync)
            {
                if (started) throw new InvalidOperationException("ports must be added before Start");
                string host = port.Host;
                string address = host.StartsWith("unix:", StringComparison.Ordinal) ? host : host + ":" + port.Port;
                using (var creds = port.Credentials.CreateNative())
                {
                    IntPtr s = handle.Use();
                    IntPtr c = creds.Use();
                    try
                    {
                        int bound;
                        N.polyrpc_server_add_listener(s, address, c, out bound);
                        port.BoundPort = bound;
                        return bound;
                    }
                    catch (NativeException e)
                    {
                        throw Errors.Translate(e, "cannot listen on " + address);
                    }
                    finally
                    {
                        creds.Done();
                        handle.Done();
                    }
                }
            }
        }

        /// <summary>Serves grpc.health.v1.Health (Check, Watch) from the core; before Start.
        /// Returns the HealthService whose Set changes a status at run time (the same one if
        /// called again).</summary>
        public HealthService EnableHealth()
        {
            lock (sync)
            {
                if (started) throw new InvalidOperationException("EnableHealth must come before Start");
                if (health != null) return health;
                IntPtr s = handle.Use();
                try
                {
                    N.polyrpc_server_enable_health(s);
                }
                catch (NativeException e)
                {
                    throw Errors.Translate(e, "cannot enable the health service");
                }
                finally
                {
                    handle.Done();
                }
                health = new HealthService(handle);
                return health;
            }
        }

        /// <summary>Serves server reflection (grpc.reflection.v1 and v1alpha) from the core;
        /// before Start. The services are described from pool (e.g.
        /// DescriptorPool.FromFileDescriptorSet with the set protoc --descriptor_set_out
        /// --include_imports makes, or Google.Protobuf's FileDescriptor.SerializedData in a
        /// set); null: only the built-in health and reflection services. The services served are
        /// listed either way. The server keeps what it needs: the pool may be disposed.</summary>
        public void EnableReflection(Dynamic.DescriptorPool pool = null)
        {
            lock (sync)
            {
                if (started) throw new InvalidOperationException("EnableReflection must come before Start");
                IntPtr s = handle.Use();
                IntPtr p = pool == null ? IntPtr.Zero : pool.Handle.Use();
                try
                {
                    N.polyrpc_server_enable_reflection(s, p);
                }
                catch (NativeException e)
                {
                    throw Errors.Translate(e, "cannot enable reflection");
                }
                finally
                {
                    if (pool != null) pool.Handle.Done();
                    handle.Done();
                }
            }
        }

        /// <summary>Starts serving.</summary>
        public void Start()
        {
            lock (sync)
            {
                if (started) throw new InvalidOperationException("the server is already started");
                if (shutdownStarted) throw new InvalidOperationException("the server is shut down");
                IntPtr s = handle.Use();
                try
                {
                    N.polyrpc_server_start(s);
                }
                catch (NativeException e)
                {
                    throw Errors.Translate(e, "cannot start the server");
                }
                finally
                {
                    handle.Done();
                }
                started = true;
                queue = Runtime.Queue;
                for (int i = 0; i < PendingRequests; i++) RequestCall();
            }
        }

        sealed class RequestOperation : Operation
        {
            readonly Server server;
            internal RequestOperation(Server server) : base(1) { this.server = server; }
            internal IntPtr Tag;
            internal override void OnComplete(bool success, bool last) { server.CallArrived(this, success); }
        }

        void RequestCall()
        {
            var op = new RequestOperation(this);
            IntPtr s, q;
            try
            {
                s = handle.Use();
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            try
            {
                q = queue.Handle.Use();
            }
            catch (ObjectDisposedException)
            {
                handle.Done();
                return;
            }
            try
            {
                // The server handle is held until the request is back: take_call needs it.
                op.Tag = CompletionQueue.NewTag(op, handle);
                Interlocked.Increment(ref activeRequests);
                try
                {
                    N.polyrpc_server_request_call_v2(s, q, op.Tag);
                }
                catch (NativeException)
                {
                    // Shut down meanwhile: no more requests.
                    CompletionQueue.NotStarted(op.Tag);
                }
            }
            finally
            {
                queue.Handle.Done();
                handle.Done();
            }
        }

        void CallArrived(RequestOperation op, bool success)
        {
            Interlocked.Decrement(ref activeRequests);
            if (!success) return; // shutting down (or not started: NotStarted)
            CallHandle call;
            IntPtr s = handle.Use();
            try
            {
                IntPtr c;
                N.polyrpc_server_take_call(s, op.Tag, out c);
                call = CallHandle.Wrap(c);
            }
            catch (NativeException e)
            {
                Log.Error("take_call: " + e.Message);
                return;
            }
            finally
            {
                handle.Done();
            }
            bool again;
            lock (sync) again = !shutdownStarted;
            if (again) RequestCall();
            ThreadPool.UnsafeQueueUserWorkItem(Dispatch, call);
        }

        void Dispatch(object state)
        {
            var handleOfCall = (CallHandle)state;
            ServerCall call;
            try
            {
                call = new ServerCall(handleOfCall, queue);
                call.StartRecvClose();
            }
            catch (Exception e)
            {
                Log.Error("accepting a call: " + e.Message);
                handleOfCall.Dispose();
                return;
            }
            ServerMethodEntry entry;
            if (!methods.TryGetValue(call.Method, out entry))
            {
                call.SendStatus(new Status(StatusCode.Unimplemented, "Method not found: " + call.Method), null, null, null);
                return;
            }
            Task t;
            try
            {
                t = entry.Handle(call);
            }
            catch (Exception e)
            {
                Log.Error("handler of " + call.Method + ": " + e);
                call.SendStatus(new Status(StatusCode.Unknown, "Exception was thrown by handler."), null, null, null);
                return;
            }
            t.ContinueWith(done =>
            {
                // A handler aborted by the runtime's exit is not worth a report.
                if (done.IsFaulted && !(done.Exception.InnerException is ThreadAbortException))
                    Log.Error("handler of " + call.Method + ": " + done.Exception);
                // Whatever happened, the call must end.
                call.SendStatus(new Status(StatusCode.Unknown, "Exception was thrown by handler."), null, null, null);
            }, TaskContinuationOptions.NotOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously);
        }

        /// <summary>Graceful shutdown: no new calls; calls in progress may finish.</summary>
        public Task ShutdownAsync() { return Shutdown(-1); }

        /// <summary>Shutdown that cancels the calls in progress at once.</summary>
        public Task KillAsync() { return Shutdown(0); }

        Task Shutdown(long timeoutMs)
        {
            lock (sync)
            {
                if (shutdownStarted) return shutdownTcs.Task;
                shutdownStarted = true;
            }
            // polyrpc_server_shutdown blocks until done: on a thread of its own.
            var thread = new Thread(() =>
            {
                try
                {
                    IntPtr s = handle.Use();
                    try
                    {
                        N.polyrpc_server_shutdown(s, timeoutMs);
                    }
                    catch (NativeException)
                    {
                        // Already shut down by polyrpc_shutdown.
                    }
                    finally
                    {
                        handle.Done();
                    }
                    handle.Dispose();
                    shutdownTcs.TrySetResult(true);
                }
                catch (Exception e)
                {
                    shutdownTcs.TrySetException(e);
                }
            }) { IsBackground = true, Name = "polyrpc server shutdown" };
            thread.Start();
            return shutdownTcs.Task;
        }

        /// <summary>The services of a server.</summary>
        public class ServiceDefinitionCollection : IEnumerable<ServerServiceDefinition>
        {
            readonly Server server;
            readonly List<ServerServiceDefinition> list = new List<ServerServiceDefinition>();

            internal ServiceDefinitionCollection(Server server) { this.server = server; }

            /// <summary>Adds a service (before Start).</summary>
            public void Add(ServerServiceDefinition serviceDefinition)
            {
                if (serviceDefinition == null) throw new ArgumentNullException("serviceDefinition");
                server.AddService(serviceDefinition);
                list.Add(serviceDefinition);
            }

            /// <inheritdoc/>
            public IEnumerator<ServerServiceDefinition> GetEnumerator() { return list.GetEnumerator(); }
            IEnumerator IEnumerable.GetEnumerator() { return list.GetEnumerator(); }
        }

        /// <summary>The ports of a server.</summary>
        public class ServerPortCollection : IEnumerable<ServerPort>
        {
            readonly Server server;
            readonly List<ServerPort> list = new List<ServerPort>();

            internal ServerPortCollection(Server server) { this.server = server; }

            /// <summary>Binds a port (before Start); returns the bound port.</summary>
            public int Add(ServerPort serverPort)
            {
                if (serverPort == null) throw new ArgumentNullException("serverPort");
                int bound = server.AddPort(serverPort);
                list.Add(serverPort);
                return bound;
            }

            /// <summary>Binds host:port (before Start); returns the bound port.</summary>
            public int Add(string host, int port, ServerCredentials credentials)
            {
                return Add(new ServerPort(host, port, credentials));
            }

            /// <inheritdoc/>
            public IEnumerator<ServerPort> GetEnumerator() { return list.GetEnumerator(); }
            IEnumerator IEnumerable.GetEnumerator() { return list.GetEnumerator(); }
        }
    }
}
