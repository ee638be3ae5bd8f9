// Metadata (headers and trailers) as in Grpc.Core: an ordered list of entries; keys ending in
// "-bin" carry bytes, the others printable ASCII text.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using PolyRpc.Core.Internal;
using N = PolyRpc.Native.PolyRpcNative;

namespace PolyRpc.Core
{
    /// <summary>Headers or trailers of a call: an ordered list of (key, value) entries. Keys are
    /// lowercase [0-9a-z_.-] (upper case is lowered); keys ending in "-bin" carry binary values.</summary>
    public sealed class Metadata : IList<Metadata.Entry>
    {
        /// <summary>The suffix of binary keys.</summary>
        public const string BinaryHeaderSuffix = "-bin";

        /// <summary>An empty, read-only list.</summary>
        public static readonly Metadata Empty = new Metadata().Freeze();

        readonly List<Entry> entries;
        bool readOnly;

        /// <summary>Creates an empty list.</summary>
        public Metadata() { entries = new List<Entry>(); }

        internal Metadata Freeze() { readOnly = true; return this; }

        /// <summary>The first entry with key (lowered), or null.</summary>
        public Entry Get(string key)
        {
            key = Entry.NormalizeKey(key);
            foreach (var e in entries) if (e.Key == key) return e;
            return null;
        }

        /// <summary>The text value of the first entry with key, or null. Throws for a binary key.</summary>
        public string GetValue(string key)
        {
            var e = Get(key);
            return e == null ? null : e.Value;
        }

        /// <summary>The bytes of the first entry with key, or null.</summary>
        public byte[] GetValueBytes(string key)
        {
            var e = Get(key);
            return e == null ? null : e.ValueBytes;
        }

        /// <summary>Every entry with key, in order.</summary>
        public IEnumerable<Entry> GetAll(string key)
        {
            key = Entry.NormalizeKey(key);
            foreach (var e in entries) if (e.Key == key) yield return e;
        }

        /// <summary>Adds a text entry.</summary>
        public void Add(string key, string value) { Add(new Entry(key, value)); }

        /// <summary>Adds a binary entry (the key must end in "-bin").</summary>
        public void Add(string key, byte[] valueBytes) { Add(new Entry(key, valueBytes)); }

        /// <inheritdoc/>
        public int IndexOf(Entry item) { return entries.IndexOf(item); }
        /// <inheritdoc/>
        public void Insert(int index, Entry item) { CheckWritable(); entries.Insert(index, Check(item)); }
        /// <inheritdoc/>
        public void RemoveAt(int index) { CheckWritable(); entries.RemoveAt(index); }
        /// <inheritdoc/>
        public Entry this[int index]
        {
            get { return entries[index]; }
            set { CheckWritable(); entries[index] = Check(value); }
        }
        /// <inheritdoc/>
        public void Add(Entry item) { CheckWritable(); entries.Add(Check(item)); }
        /// <inheritdoc/>
        public void Clear() { CheckWritable(); entries.Clear(); }
        /// <inheritdoc/>
        public bool Contains(Entry item) { return entries.Contains(item); }
        /// <inheritdoc/>
        public void CopyTo(Entry[] array, int arrayIndex) { entries.CopyTo(array, arrayIndex); }
        /// <inheritdoc/>
        public int Count { get { return entries.Count; } }
        /// <inheritdoc/>
        public bool IsReadOnly { get { return readOnly; } }
        /// <inheritdoc/>
        public bool Remove(Entry item) { CheckWritable(); return entries.Remove(item); }
        /// <inheritdoc/>
        public IEnumerator<Entry> GetEnumerator() { return entries.GetEnumerator(); }
        IEnumerator IEnumerable.GetEnumerator() { return entries.GetEnumerator(); }

        void CheckWritable()
        {
            if (readOnly) throw new InvalidOperationException("this Metadata is read-only");
        }

        static Entry Check(Entry e)
        {
            if (e == null) throw new ArgumentNullException("item");
            return e;
        }

        /// <summary>A native copy for the C ABI (null for an empty or null list).</summary>
        internal static MetadataHandle ToNative(IEnumerable<Entry> md)
        {
            if (md == null) return null;
            MetadataHandle h = null;
            foreach (var e in md)
            {
                if (h == null) h = MetadataHandle.Create();
                IntPtr p = h.Use();
                try
                {
                    byte[] v = e.RawBytes;
                    N.polyrpc_metadata_add(p, e.Key, v, (ulong)v.Length);
                }
                catch (PolyRpc.Native.NativeException ex)
                {
                    h.Dispose();
                    throw new ArgumentException("metadata entry \"" + e.Key + "\": " + ex.Message);
                }
                finally
                {
                    h.Done();
                }
            }
            return h;
        }

        /// <summary>A read-only copy of a native list (borrowed from a call: read while the call lives).</summary>
        internal static Metadata FromNative(IntPtr md)
        {
            var result = new Metadata();
            if (md != IntPtr.Zero)
            {
                ulong n = N.polyrpc_metadata_count(md);
                for (ulong i = 0; i < n; i++)
                {
                    IntPtr key, value;
                    ulong len;
                    N.polyrpc_metadata_get(md, i, out key, out value, out len);
                    var bytes = new byte[(int)len];
                    if (len > 0) Marshal.Copy(value, bytes, 0, (int)len);
                    result.entries.Add(Entry.Trusted(Utf8.Read(key), bytes));
                }
            }
            return result.Freeze();
        }

        /// <summary>One (key, value) entry.</summary>
        public sealed class Entry
        {
            readonly string key;
            readonly string value;
            readonly byte[] valueBytes;

            /// <summary>A binary entry: key must end in "-bin". The bytes are copied.</summary>
            public Entry(string key, byte[] valueBytes)
            {
                this.key = NormalizeKey(key);
                if (!this.key.EndsWith(BinaryHeaderSuffix, StringComparison.Ordinal))
                    throw new ArgumentException("key \"" + this.key + "\" is not binary: binary values need a key ending in \"-bin\"");
                if (valueBytes == null) throw new ArgumentNullException("valueBytes");
                this.valueBytes = (byte[])valueBytes.Clone();
            }

            /// <summary>A text entry: printable ASCII (0x20-0x7E); key must not end in "-bin".</summary>
            public Entry(string key, string value)
            {
                this.key = NormalizeKey(key);
                if (this.key.EndsWith(BinaryHeaderSuffix, StringComparison.Ordinal))
                    throw new ArgumentException("key \"" + this.key + "\" is binary: use the byte[] value");
                if (value == null) throw new ArgumentNullException("value");
                foreach (char c in value)
                {
                    if (c < 0x20 || c > 0x7e)
                        throw new ArgumentException("metadata value of \"" + this.key + "\" must be printable ASCII (0x20-0x7E); use a \"-bin\" key for other bytes");
                }
                this.value = value;
            }

            Entry(string key, string value, byte[] valueBytes)
            {
                this.key = key;
                this.value = value;
                this.valueBytes = valueBytes;
            }

            internal static Entry Trusted(string key, byte[] bytes)
            {
                if (key.EndsWith(BinaryHeaderSuffix, StringComparison.Ordinal)) return new Entry(key, null, bytes);
                return new Entry(key, Encoding.ASCII.GetString(bytes), null);
            }

            /// <summary>The key, lowercase.</summary>
            public string Key { get { return key; } }

            /// <summary>True for a "-bin" entry.</summary>
            public bool IsBinary { get { return valueBytes != null; } }

            /// <summary>The text value. Throws InvalidOperationException for a binary entry.</summary>
            public string Value
            {
                get
                {
                    if (valueBytes != null) throw new InvalidOperationException("entry \"" + key + "\" is binary: use ValueBytes");
                    return value;
                }
            }

            /// <summary>The value as bytes (a copy; text entries as ASCII).</summary>
            public byte[] ValueBytes
            {
                get { return valueBytes != null ? (byte[])valueBytes.Clone() : Encoding.ASCII.GetBytes(value); }
            }

            internal byte[] RawBytes { get { return valueBytes ?? Encoding.ASCII.GetBytes(value); } }

            /// <inheritdoc/>
            public override string ToString()
            {
                return IsBinary ? "[Entry: key=" + key + ", valueBytes=" + BitConverter.ToString(valueBytes) + "]"
                                : "[Entry: key=" + key + ", value=" + value + "]";
            }

            internal static string NormalizeKey(string key)
            {
                if (key == null) throw new ArgumentNullException("key");
                string k = key.ToLowerInvariant();
                if (k.Length == 0) throw new ArgumentException("metadata key is empty");
                foreach (char c in k)
                {
                    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
                    if (!ok) throw new ArgumentException("metadata key \"" + key + "\" may use only [0-9a-z_.-]");
                }
                return k;
            }
        }
    }
}
