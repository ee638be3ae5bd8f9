// The process-wide part of the binding: the completion engine, started on first use, and the exit
// hook. At process exit (AppDomain.ProcessExit) the library is stopped with polyrpc_shutdown, which
// closes every channel and server and joins polyrpc's I/O threads (Mono used to wait at exit for a
// thread it had seen), and then the completion queue is torn down so every tag comes back.
using System;
using System.Threading;
using N = PolyRpc.Native.PolyRpcNative;

namespace PolyRpc.Core.Internal
{
    internal static class Runtime
    {
        static readonly object gate = new object();
        static CompletionQueue queue;
        static int threadCount = DefaultThreadCount();
        static bool hooked;

        static int DefaultThreadCount()
        {
            string s = Environment.GetEnvironmentVariable("POLYRPC_CSHARP_COMPLETION_THREADS");
            int n;
            if (s != null && int.TryParse(s, out n) && n >= 1 && n <= 64) return n;
            return 1;
        }

        internal static int CompletionThreadCount
        {
            get { lock (gate) return threadCount; }
            set
            {
                if (value < 1 || value > 64) throw new ArgumentOutOfRangeException("value", "1 to 64 threads");
                lock (gate)
                {
                    if (queue != null) throw new InvalidOperationException("the completion threads have already started");
                    threadCount = value;
                }
            }
        }

        /// <summary>The completion queue all operations report to (started on first use).</summary>
        internal static CompletionQueue Queue
        {
            get
            {
                var q = Volatile.Read(ref queue);
                if (q != null) return q;
                lock (gate)
                {
                    if (queue == null)
                    {
                        Hook();
                        queue = new CompletionQueue(threadCount, "polyrpc completion");
                    }
                    return queue;
                }
            }
        }

        static void Hook()
        {
            if (hooked) return;
            hooked = true;
            // At exit nothing waits for calls in flight: they are cancelled at once (their peers
            // see CANCELLED), and the exit takes milliseconds, well inside the runtime's limits
            // for exit handlers.
            AppDomain.CurrentDomain.ProcessExit += (s, e) => Shutdown(TimeSpan.Zero, TimeSpan.FromSeconds(1));
            AppDomain.CurrentDomain.DomainUnload += (s, e) => Shutdown(TimeSpan.Zero, TimeSpan.FromSeconds(1));
        }

        /// <summary>Stops the library (polyrpc_shutdown: channels closed, servers shut down after
        /// grace, I/O threads joined), then the completion threads (waiting up to timeout); every
        /// pending operation completes. The next use starts a new completion queue.</summary>
        internal static void Shutdown(TimeSpan grace, TimeSpan timeout)
        {
            CompletionQueue q;
            lock (gate)
            {
                q = queue;
                queue = null;
            }
            try
            {
                N.polyrpc_shutdown((long)grace.TotalMilliseconds);
            }
            catch (Exception e)
            {
                Log.Error("polyrpc_shutdown: " + e.Message);
            }
            if (q != null) q.Shutdown(timeout);
        }
    }
}
