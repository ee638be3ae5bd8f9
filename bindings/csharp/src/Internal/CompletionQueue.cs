// The completion engine: one C ABI queue cq and a few dedicated threads waiting in
// polyrpc_cq_next. Every asynchronous operation is started with a tag that is a GCHandle to an
// Operation; the thread that takes its event frees the GCHandle and runs Operation.Complete,
// which must not block: it completes a TaskCompletionSource created with
// RunContinuationsAsynchronously, so application code never runs on these threads and never on a
// polyrpc I/O thread. No thread-pool thread waits for the network.
//
// Each tag comes back exactly once (the C ABI's promise), also at teardown: Shutdown() is
// polyrpc_cq_shutdown + polyrpc_cq_cancel_pending, after which every pending operation is
// delivered with success=0 and the threads drain the queue until SHUTDOWN.
using System;
using System.Runtime.InteropServices;
using System.Threading;
using PolyRpc.Native;
using N = PolyRpc.Native.PolyRpcNative;

namespace PolyRpc.Core.Internal
{
    /// <summary>One or more operations started with the same tag. The tag's GCHandle is freed when
    /// the last of them has completed (or failed to start).</summary>
    internal abstract class Operation
    {
        int pending;

        /// <summary>A handle the operations use when they complete (a call's, for take_message):
        /// referenced from NewTag until the tag is freed, so it cannot be destroyed meanwhile.</summary>
        internal SafeHandle Hold;

        protected Operation(int ops) { pending = ops; }

        /// <summary>One of the operations completed (on a completion thread); last is true for the
        /// last of them. Must not block.</summary>
        internal abstract void OnComplete(bool success, bool last);

        /// <summary>Counts one completion; true when it was the last.</summary>
        internal bool Arrive() { return Interlocked.Decrement(ref pending) == 0; }
    }

    /// <summary>One operation that runs a delegate (for the rarer operations).</summary>
    internal sealed class ActionOperation : Operation
    {
        readonly Action<bool> action;
        internal ActionOperation(Action<bool> action) : base(1) { this.action = action; }
        internal override void OnComplete(bool success, bool last) { action(success); }
    }

    internal sealed class CompletionQueue
    {
        readonly CompletionQueueHandle cq;
        readonly Thread[] threads;
        int shutdown;

        internal CompletionQueue(int threadCount, string name)
        {
            cq = CompletionQueueHandle.Create();
            threads = new Thread[threadCount];
            for (int i = 0; i < threadCount; i++)
            {
                threads[i] = new Thread(Run) { IsBackground = true, Name = name + " " + i };
                threads[i].Start();
            }
        }

        internal CompletionQueueHandle Handle { get { return cq; } }

        /// <summary>A tag for op (a GCHandle), to give to the operations it counts. hold (may be
        /// null) is kept from destruction until the tag is freed (ObjectDisposedException if it is
        /// disposed already).</summary>
        internal static IntPtr NewTag(Operation op, SafeHandle hold = null)
        {
            if (hold != null)
            {
                bool added = false;
                hold.DangerousAddRef(ref added);
                op.Hold = hold;
            }
            var h = GCHandle.Alloc(op, GCHandleType.Normal);
            NativeStats.TagAllocated();
            return GCHandle.ToIntPtr(h);
        }

        /// <summary>An operation counted by tag did not start (its function returned an error, so no
        /// completion will come for it): counts it as arrived; if it was the last, runs
        /// OnComplete(false, true) and frees the tag. Set a failing task's exception before.</summary>
        internal static void NotStarted(IntPtr tag)
        {
            var h = GCHandle.FromIntPtr(tag);
            var op = (Operation)h.Target;
            if (!op.Arrive()) return;
            try
            {
                op.OnComplete(false, true);
            }
            catch (Exception e)
            {
                Log.Error("a completion handler threw: " + e);
            }
            Free(h, op);
        }

        static void Free(GCHandle h, Operation op)
        {
            h.Free();
            NativeStats.TagFreed();
            if (op.Hold != null) op.Hold.DangerousRelease();
        }

        void Run()
        {
            var ev = new PolyrpcEvent();
            IntPtr q = cq.Use();
            try
            {
                for (;;)
                {
                    N.polyrpc_cq_next(q, -1, ref ev);
                    if (ev.Type == (int)polyrpc_event_type_t.POLYRPC_EVENT_COMPLETE)
                    {
                        Dispatch(ev.Tag, ev.Success != 0);
                    }
                    else if (ev.Type == (int)polyrpc_event_type_t.POLYRPC_EVENT_SHUTDOWN)
                    {
                        return;
                    }
                    // WAKEUP and INTERRUPTED: nothing to do but wait again.
                }
            }
            catch (Exception e)
            {
                Log.Error("completion thread stopped: " + e);
            }
            finally
            {
                cq.Done();
            }
        }

        static void Dispatch(IntPtr tag, bool success)
        {
            var h = GCHandle.FromIntPtr(tag);
            var op = (Operation)h.Target;
            bool last = op.Arrive();
            try
            {
                op.OnComplete(success, last);
            }
            catch (Exception e)
            {
                Log.Error("a completion handler threw: " + e);
            }
            if (last) Free(h, op);
        }

        /// <summary>Delivers every pending operation now (success=0) and lets the threads drain the
        /// queue and exit; waits up to timeout for them.</summary>
        internal bool Shutdown(TimeSpan timeout)
        {
            if (Interlocked.Exchange(ref shutdown, 1) == 0)
            {
                IntPtr q = cq.Use();
                try
                {
                    N.polyrpc_cq_shutdown(q);
                    N.polyrpc_cq_cancel_pending(q);
                }
                finally
                {
                    cq.Done();
                }
            }
            var until = DateTime.UtcNow + timeout;
            bool all = true;
            foreach (var t in threads)
            {
                if (t == Thread.CurrentThread) continue;
                var left = until - DateTime.UtcNow;
                if (!t.Join(left > TimeSpan.Zero ? left : TimeSpan.Zero)) all = false;
            }
            if (all) cq.Dispose();
            return all;
        }
    }

    /// <summary>Where the binding reports what it cannot throw (failures on completion threads).</summary>
    internal static class Log
    {
        internal static void Error(string message)
        {
            try
            {
                Console.Error.WriteLine("polyrpc: " + message);
            }
            catch (Exception)
            {
                // Nowhere left to report it.
            }
        }
    }
}
