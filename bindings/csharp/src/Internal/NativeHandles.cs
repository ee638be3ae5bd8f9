// SafeHandles over the C ABI's handles. The SWIG layer (PolyRpc.Native) passes handles as IntPtr
// and owns nothing; here every handle the binding creates or receives is wrapped at once, so it is
// destroyed exactly once: by Dispose, or by the finaliser if its owner is collected first. The
// C ABI lets children keep their parents alive (a call its channel, a pending operation its
// queue), so finalisers may run in any order.
//
// Every native call goes through Use(): DangerousAddRef for the duration of the call, so neither a
// concurrent Dispose nor the finaliser can destroy the handle while another thread is inside the
// C ABI with it (an IntPtr alone would not keep the SafeHandle reachable).
using System;
using System.Runtime.InteropServices;
using System.Threading;
using N = PolyRpc.Native.PolyRpcNative;

namespace PolyRpc.Core.Internal
{
    /// <summary>The kinds of native handle the binding owns, for the live-handle counters.</summary>
    internal enum HandleKind
    {
        Buffer, Metadata, CompletionQueue, Options, ChannelCredentials, ServerCredentials,
        CallCredentials, Channel, Call, Server, DescriptorPool, Count
    }

    /// <summary>Live native handles and GC handles (completion tags), for tests and diagnostics.</summary>
    internal static class NativeStats
    {
        static readonly int[] live = new int[(int)HandleKind.Count];
        static int liveTags;

        internal static void HandleCreated(HandleKind k) { Interlocked.Increment(ref live[(int)k]); }
        internal static void HandleReleased(HandleKind k) { Interlocked.Decrement(ref live[(int)k]); }
        internal static void TagAllocated() { Interlocked.Increment(ref liveTags); }
        internal static void TagFreed() { Interlocked.Decrement(ref liveTags); }

        /// <summary>Native handles not yet destroyed, all kinds.</summary>
        internal static int LiveHandles
        {
            get
            {
                int n = 0;
                for (int i = 0; i < live.Length; i++) n += Volatile.Read(ref live[i]);
                return n;
            }
        }

        internal static int Live(HandleKind k) { return Volatile.Read(ref live[(int)k]); }

        /// <summary>GCHandles rooting an operation that has not come back from a completion queue.</summary>
        internal static int LiveTags { get { return Volatile.Read(ref liveTags); } }

        /// <summary>With POLYRPC_CSHARP_TRACK_HANDLES=1, every live handle's label by its native
        /// pointer (leak hunting; the pointer keeps nothing alive).</summary>
        internal static readonly System.Collections.Concurrent.ConcurrentDictionary<IntPtr, string> Tracked =
            Environment.GetEnvironmentVariable("POLYRPC_CSHARP_TRACK_HANDLES") == "1"
                ? new System.Collections.Concurrent.ConcurrentDictionary<IntPtr, string>() : null;

        internal static string Describe()
        {
            if (Tracked != null)
            {
                var labels = new System.Collections.Generic.List<string>();
                foreach (var kv in Tracked) labels.Add(kv.Value);
                labels.Sort();
                return DescribeCounts() + " [" + string.Join("; ", labels) + "]";
            }
            return DescribeCounts();
        }

        static string DescribeCounts()
        {
            var parts = new System.Collections.Generic.List<string>();
            for (int i = 0; i < live.Length; i++)
            {
                int n = Volatile.Read(ref live[i]);
                if (n != 0) parts.Add(((HandleKind)i) + "=" + n);
            }
            parts.Add("tags=" + LiveTags);
            return string.Join(", ", parts);
        }
    }

    /// <summary>A native polyrpc handle, destroyed once by Dispose or by the finaliser.</summary>
    internal abstract class NativeHandle : SafeHandle
    {
        readonly HandleKind kind;

        protected NativeHandle(HandleKind kind) : base(IntPtr.Zero, true) { this.kind = kind; }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        /// <summary>Takes ownership of p (a fresh out-argument of the C ABI). Zero stays invalid.</summary>
        protected void Adopt(IntPtr p)
        {
            if (p == IntPtr.Zero) return;
            SetHandle(p);
            NativeStats.HandleCreated(kind);
            if (NativeStats.Tracked != null) NativeStats.Tracked[p] = kind.ToString();
        }

        /// <summary>What the handle is for, in leak reports (POLYRPC_CSHARP_TRACK_HANDLES=1).</summary>
        internal void Label(string label)
        {
            if (NativeStats.Tracked != null && !IsInvalid) NativeStats.Tracked[handle] = kind + " " + label;
        }

        protected sealed override bool ReleaseHandle()
        {
            Destroy(handle);
            NativeStats.HandleReleased(kind);
            if (NativeStats.Tracked != null)
            {
                string unused;
                NativeStats.Tracked.TryRemove(handle, out unused);
            }
            return true;
        }

        protected abstract void Destroy(IntPtr p);

        /// <summary>Pins the handle for one native call; pair with Done() in a finally block.
        /// Throws ObjectDisposedException once the handle is disposed.</summary>
        internal IntPtr Use()
        {
            bool added = false;
            DangerousAddRef(ref added);
            return handle;
        }

        internal void Done() { DangerousRelease(); }
    }

    internal sealed class BufferHandle : NativeHandle
    {
        BufferHandle() : base(HandleKind.Buffer) { }
        internal static BufferHandle Wrap(IntPtr p) { var h = new BufferHandle(); h.Adopt(p); return h; }
        protected override void Destroy(IntPtr p) { N.polyrpc_buffer_destroy(p); }

        internal static BufferHandle Copy(byte[] data)
        {
            IntPtr p;
            N.polyrpc_buffer_create_copy(data, (ulong)data.Length, out p);
            return Wrap(p);
        }

        /// <summary>Copies the bytes of a native buffer the caller owns and destroys it.</summary>
        internal static byte[] TakeBytes(IntPtr p)
        {
            try
            {
                IntPtr data;
                ulong len;
                N.polyrpc_buffer_data(p, out data, out len);
                if (len > int.MaxValue) throw new InvalidOperationException("message too large for a byte[]");
                var bytes = new byte[(int)len];
                if (len > 0) Marshal.Copy(data, bytes, 0, (int)len);
                return bytes;
            }
            finally
            {
                N.polyrpc_buffer_destroy(p);
            }
        }
    }

    internal sealed class MetadataHandle : NativeHandle
    {
        MetadataHandle() : base(HandleKind.Metadata) { }
        internal static MetadataHandle Create()
        {
            IntPtr p;
            N.polyrpc_metadata_create(out p);
            var h = new MetadataHandle();
            h.Adopt(p);
            return h;
        }
        protected override void Destroy(IntPtr p) { N.polyrpc_metadata_destroy(p); }
    }

    internal sealed class CompletionQueueHandle : NativeHandle
    {
        CompletionQueueHandle() : base(HandleKind.CompletionQueue) { }
        internal static CompletionQueueHandle Create()
        {
            IntPtr p;
            N.polyrpc_cq_create(out p);
            var h = new CompletionQueueHandle();
            h.Adopt(p);
            return h;
        }
        protected override void Destroy(IntPtr p) { N.polyrpc_cq_destroy(p); }
    }

    internal sealed class OptionsHandle : NativeHandle
    {
        OptionsHandle() : base(HandleKind.Options) { }
        internal static OptionsHandle Create()
        {
            IntPtr p;
            N.polyrpc_options_create(out p);
            var h = new OptionsHandle();
            h.Adopt(p);
            return h;
        }
        protected override void Destroy(IntPtr p) { N.polyrpc_options_destroy(p); }
    }

    internal sealed class ChannelCredentialsHandle : NativeHandle
    {
        ChannelCredentialsHandle() : base(HandleKind.ChannelCredentials) { }
        internal static ChannelCredentialsHandle Wrap(IntPtr p) { var h = new ChannelCredentialsHandle(); h.Adopt(p); return h; }
        protected override void Destroy(IntPtr p) { N.polyrpc_channel_credentials_destroy(p); }
    }

    internal sealed class ServerCredentialsHandle : NativeHandle
    {
        ServerCredentialsHandle() : base(HandleKind.ServerCredentials) { }
        internal static ServerCredentialsHandle Wrap(IntPtr p) { var h = new ServerCredentialsHandle(); h.Adopt(p); return h; }
        protected override void Destroy(IntPtr p) { N.polyrpc_server_credentials_destroy(p); }
    }

    internal sealed class CallCredentialsHandle : NativeHandle
    {
        CallCredentialsHandle() : base(HandleKind.CallCredentials) { }
        internal static CallCredentialsHandle Wrap(IntPtr p) { var h = new CallCredentialsHandle(); h.Adopt(p); return h; }
        protected override void Destroy(IntPtr p) { N.polyrpc_call_credentials_destroy(p); }
    }

    internal sealed class ChannelHandle : NativeHandle
    {
        ChannelHandle() : base(HandleKind.Channel) { }
        internal static ChannelHandle Wrap(IntPtr p) { var h = new ChannelHandle(); h.Adopt(p); return h; }
        protected override void Destroy(IntPtr p) { N.polyrpc_channel_destroy(p); }
    }

    internal sealed class CallHandle : NativeHandle
    {
        CallHandle() : base(HandleKind.Call) { }
        internal static CallHandle Wrap(IntPtr p) { var h = new CallHandle(); h.Adopt(p); return h; }
        protected override void Destroy(IntPtr p) { N.polyrpc_call_destroy(p); }
    }

    internal sealed class ServerHandle : NativeHandle
    {
        ServerHandle() : base(HandleKind.Server) { }
        internal static ServerHandle Wrap(IntPtr p) { var h = new ServerHandle(); h.Adopt(p); return h; }
        protected override void Destroy(IntPtr p) { N.polyrpc_server_destroy(p); }
    }

    internal sealed class DescriptorPoolHandle : NativeHandle
    {
        DescriptorPoolHandle() : base(HandleKind.DescriptorPool) { }
        internal static DescriptorPoolHandle Create()
        {
            IntPtr p;
            N.polyrpc_descriptor_pool_create(out p);
            var h = new DescriptorPoolHandle();
            h.Adopt(p);
            return h;
        }
        protected override void Destroy(IntPtr p) { N.polyrpc_descriptor_pool_destroy(p); }
    }

    /// <summary>UTF-8 strings borrowed from the C ABI.</summary>
    internal static class Utf8
    {
        internal static string Read(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            return Read(p, n);
        }

        internal static string Read(IntPtr p, int len)
        {
            if (len == 0) return "";
            var b = new byte[len];
            Marshal.Copy(p, b, 0, len);
            return System.Text.Encoding.UTF8.GetString(b);
        }
    }
}
