// Dynamic calls (capi/include/polyrpc/dynamic.h): protobuf descriptors loaded at run time and
// messages as JSON, for .NET programs without a protobuf runtime. A DescriptorPool reads a
// FileDescriptorSet (protoc --descriptor_set_out --include_imports) or asks a server by
// reflection; its JSON marshallers turn proto3 JSON text into the binary protobuf that travels,
// and back, by libprotobuf inside libpolyrpc.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using PolyRpc.Core.Internal;
using PolyRpc.Native;
using N = PolyRpc.Native.PolyRpcNative;

namespace PolyRpc.Core.Dynamic
{
    /// <summary>JSON options (POLYRPC_JSON_*): parsing reads IgnoreUnknownFields, printing the others.</summary>
    [Flags]
    public enum JsonOptions
    {
        /// <summary>The canonical proto3 JSON mapping.</summary>
        None = 0,
        /// <summary>Parsing: skip unknown fields instead of failing.</summary>
        IgnoreUnknownFields = 1,
        /// <summary>Printing: also fields holding their default value.</summary>
        EmitDefaults = 2,
        /// <summary>Printing: proto field names (response_size), not lowerCamelCase.</summary>
        ProtoNames = 4,
        /// <summary>Printing: enum values as numbers.</summary>
        EnumsAsInts = 8,
        /// <summary>Printing: line breaks and indentation.</summary>
        Pretty = 16
    }

    /// <summary>A method as a descriptor pool knows it.</summary>
    public sealed class MethodDescription
    {
        internal MethodDescription(MethodType type, string fullName, string inputType, string outputType)
        {
            Type = type;
            FullName = fullName;
            InputType = inputType;
            OutputType = outputType;
            int slash = fullName.LastIndexOf('/');
            ServiceName = fullName.Substring(1, slash - 1);
            Name = fullName.Substring(slash + 1);
        }

        /// <summary>The kind of method.</summary>
        public MethodType Type { get; private set; }
        /// <summary>The path ("/package.Service/Method").</summary>
        public string FullName { get; private set; }
        /// <summary>"package.Service".</summary>
        public string ServiceName { get; private set; }
        /// <summary>"Method".</summary>
        public string Name { get; private set; }
        /// <summary>The full name of the request message type.</summary>
        public string InputType { get; private set; }
        /// <summary>The full name of the response message type.</summary>
        public string OutputType { get; private set; }
    }

    /// <summary>Protobuf descriptors and JSON transcoding. Thread-safe.</summary>
    public sealed class DescriptorPool : IDisposable
    {
        readonly DescriptorPoolHandle handle;

        /// <summary>An empty pool.</summary>
        public DescriptorPool() { handle = DescriptorPoolHandle.Create(); }

        internal DescriptorPoolHandle Handle { get { return handle; } }

        /// <summary>A pool with the files of a serialized google.protobuf.FileDescriptorSet.</summary>
        public static DescriptorPool FromFileDescriptorSet(byte[] fileDescriptorSet)
        {
            var pool = new DescriptorPool();
            try
            {
                pool.AddFileDescriptorSet(fileDescriptorSet);
            }
            catch
            {
                pool.Dispose();
                throw;
            }
            return pool;
        }

        /// <summary>Adds the files of a serialized FileDescriptorSet (all or nothing).</summary>
        public void AddFileDescriptorSet(byte[] fileDescriptorSet)
        {
            if (fileDescriptorSet == null) throw new ArgumentNullException("fileDescriptorSet");
            IntPtr p = handle.Use();
            try
            {
                N.polyrpc_descriptor_pool_add_file_set(p, fileDescriptorSet, (ulong)fileDescriptorSet.Length);
            }
            catch (NativeException e)
            {
                throw Errors.Translate(e, "FileDescriptorSet");
            }
            finally
            {
                handle.Done();
            }
        }

        /// <summary>Fetches descriptors by gRPC server reflection (v1, falling back to v1alpha):
        /// the file defining symbol and its imports, or every service the server lists (symbol
        /// null). Blocks the calling thread for at most timeout. Fails with
        /// KeyNotFoundException when the server has no reflection or does not know symbol.</summary>
        public void AddFromReflection(Channel channel, string symbol = null, Metadata headers = null, TimeSpan? timeout = null)
        {
            if (channel == null) throw new ArgumentNullException("channel");
            using (var md = Metadata.ToNative(headers))
            {
                IntPtr p = handle.Use();
                IntPtr ch = channel.Handle.Use();
                IntPtr m = md == null ? IntPtr.Zero : md.Use();
                try
                {
                    N.polyrpc_descriptor_pool_add_from_reflection(p, ch, symbol, m,
                        timeout.HasValue ? (long)timeout.Value.TotalMilliseconds : -1);
                }
                catch (NativeException e)
                {
                    if (e.Code == (int)polyrpc_error_t.POLYRPC_ERROR_NOT_FOUND) throw new KeyNotFoundException("reflection: " + e.Message);
                    if (e.Code == (int)polyrpc_error_t.POLYRPC_ERROR_TIMEOUT) throw new TimeoutException("reflection: " + e.Message);
                    throw Errors.Translate(e, "reflection");
                }
                finally
                {
                    if (md != null) md.Done();
                    channel.Handle.Done();
                    handle.Done();
                }
            }
        }

        /// <summary>The full names of the services the pool knows.</summary>
        public IReadOnlyList<string> Services
        {
            get
            {
                var list = new List<string>();
                IntPtr p = handle.Use();
                try
                {
                    ulong n;
                    N.polyrpc_descriptor_pool_service_count(p, out n);
                    for (ulong i = 0; i < n; i++)
                    {
                        IntPtr name;
                        ulong methods;
                        N.polyrpc_descriptor_pool_service(p, i, out name, out methods);
                        list.Add(Utf8.Read(name));
                    }
                }
                finally
                {
                    handle.Done();
                }
                return list;
            }
        }

        /// <summary>The methods of a service ("package.Service/Method").</summary>
        public IReadOnlyList<string> GetMethods(string service)
        {
            if (service == null) throw new ArgumentNullException("service");
            var list = new List<string>();
            IntPtr p = handle.Use();
            try
            {
                ulong n;
                N.polyrpc_descriptor_pool_service_count(p, out n);
                for (ulong i = 0; i < n; i++)
                {
                    IntPtr name;
                    ulong methods;
                    N.polyrpc_descriptor_pool_service(p, i, out name, out methods);
                    if (Utf8.Read(name) != service) continue;
                    for (ulong j = 0; j < methods; j++)
                    {
                        IntPtr method;
                        N.polyrpc_descriptor_pool_service_method(p, i, j, out method);
                        list.Add(Utf8.Read(method));
                    }
                    return list;
                }
            }
            finally
            {
                handle.Done();
            }
            throw new KeyNotFoundException("no service " + service + " in the pool");
        }

        /// <summary>Looks a method up by "package.Service/Method" or its path.</summary>
        public MethodDescription FindMethod(string method)
        {
            if (method == null) throw new ArgumentNullException("method");
            IntPtr p = handle.Use();
            try
            {
                int kind;
                IntPtr path, input, output;
                N.polyrpc_descriptor_pool_find_method(p, method, out kind, out path, out input, out output);
                MethodType type;
                switch (kind)
                {
                    case 1: type = MethodType.ClientStreaming; break;
                    case 2: type = MethodType.ServerStreaming; break;
                    case 3: type = MethodType.DuplexStreaming; break;
                    default: type = MethodType.Unary; break;
                }
                return new MethodDescription(type, Utf8.Read(path), Utf8.Read(input), Utf8.Read(output));
            }
            catch (NativeException e)
            {
                if (e.Code == (int)polyrpc_error_t.POLYRPC_ERROR_NOT_FOUND) throw new KeyNotFoundException(e.Message);
                throw Errors.Translate(e, "find method");
            }
            finally
            {
                handle.Done();
            }
        }

        /// <summary>Parses proto3 JSON as a message of typeName and serializes it (binary protobuf).
        /// ArgumentException (with libprotobuf's reason) for JSON that does not fit.</summary>
        public byte[] JsonToMessage(string typeName, string json, JsonOptions options = JsonOptions.None)
        {
            if (typeName == null) throw new ArgumentNullException("typeName");
            if (json == null) throw new ArgumentNullException("json");
            IntPtr p = handle.Use();
            try
            {
                IntPtr buf;
                N.polyrpc_descriptor_pool_json_to_message(p, typeName, json, (uint)(options & JsonOptions.IgnoreUnknownFields), out buf);
                return BufferHandle.TakeBytes(buf);
            }
            catch (NativeException e)
            {
                throw Translate(e, typeName);
            }
            finally
            {
                handle.Done();
            }
        }

        /// <summary>Parses binary protobuf as typeName and prints it as proto3 JSON.</summary>
        public string MessageToJson(string typeName, byte[] message, JsonOptions options = JsonOptions.None)
        {
            if (typeName == null) throw new ArgumentNullException("typeName");
            if (message == null) throw new ArgumentNullException("message");
            using (var buf = BufferHandle.Copy(message))
            {
                IntPtr p = handle.Use();
                IntPtr b = buf.Use();
                try
                {
                    IntPtr json;
                    N.polyrpc_descriptor_pool_message_to_json(p, typeName, b, (uint)(options & ~JsonOptions.IgnoreUnknownFields), out json);
                    return Encoding.UTF8.GetString(BufferHandle.TakeBytes(json));
                }
                catch (NativeException e)
                {
                    throw Translate(e, typeName);
                }
                finally
                {
                    buf.Done();
                    handle.Done();
                }
            }
        }

        static Exception Translate(NativeException e, string typeName)
        {
            if (e.Code == (int)polyrpc_error_t.POLYRPC_ERROR_NOT_FOUND)
                return new KeyNotFoundException("no message type " + typeName + " in the pool: " + e.Message);
            return Errors.Translate(e, typeName);
        }

        /// <summary>A marshaller of typeName messages as JSON strings.</summary>
        public Marshaller<string> JsonMarshaller(string typeName, JsonOptions options = JsonOptions.None)
        {
            if (typeName == null) throw new ArgumentNullException("typeName");
            return new Marshaller<string>(json => JsonToMessage(typeName, json, options),
                                          bytes => MessageToJson(typeName, bytes, options));
        }

        /// <summary>A Method with JSON marshallers for its request and response types, for any
        /// CallInvoker or ServerServiceDefinition.</summary>
        public Method<string, string> JsonMethod(string method, JsonOptions options = JsonOptions.None)
        {
            var d = FindMethod(method);
            return new Method<string, string>(d.Type, d.ServiceName, d.Name, JsonMarshaller(d.InputType, options),
                                              JsonMarshaller(d.OutputType, options));
        }

        /// <summary>Releases the pool (the marshallers it made stop working).</summary>
        public void Dispose() { handle.Dispose(); }
    }
}
