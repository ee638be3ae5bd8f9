// Methods and marshallers, as in Grpc.Core: a Method<TRequest, TResponse> names the call and
// carries the marshallers that turn messages into bytes and back. Marshallers are pluggable: any
// pair of functions will do (protobuf, JSON, raw bytes).
using System;
using System.Text;

namespace PolyRpc.Core
{
    /// <summary>The four kinds of method.</summary>
    public enum MethodType
    {
        /// <summary>One request, one response.</summary>
        Unary,
        /// <summary>A stream of requests, one response.</summary>
        ClientStreaming,
        /// <summary>One request, a stream of responses.</summary>
        ServerStreaming,
        /// <summary>Streams both ways.</summary>
        DuplexStreaming
    }

    /// <summary>Turns messages of type T into bytes and back.</summary>
    public class Marshaller<T>
    {
        readonly Func<T, byte[]> serializer;
        readonly Func<byte[], T> deserializer;

        /// <summary>Creates a marshaller from a serializer and a deserializer.</summary>
        public Marshaller(Func<T, byte[]> serializer, Func<byte[], T> deserializer)
        {
            if (serializer == null) throw new ArgumentNullException("serializer");
            if (deserializer == null) throw new ArgumentNullException("deserializer");
            this.serializer = serializer;
            this.deserializer = deserializer;
        }

        /// <summary>The serializer.</summary>
        public Func<T, byte[]> Serializer { get { return serializer; } }
        /// <summary>The deserializer.</summary>
        public Func<byte[], T> Deserializer { get { return deserializer; } }
    }

    /// <summary>Factory and common marshallers.</summary>
    public static class Marshallers
    {
        /// <summary>Creates a marshaller from a serializer and a deserializer.</summary>
        public static Marshaller<T> Create<T>(Func<T, byte[]> serializer, Func<byte[], T> deserializer)
        {
            return new Marshaller<T>(serializer, deserializer);
        }

        /// <summary>Strings as UTF-8.</summary>
        public static Marshaller<string> StringMarshaller { get; } =
            new Marshaller<string>(s => Encoding.UTF8.GetBytes(s), b => Encoding.UTF8.GetString(b));

        /// <summary>Bytes as they are (the serializer does not copy).</summary>
        public static Marshaller<byte[]> ByteArrayMarshaller { get; } = new Marshaller<byte[]>(b => b, b => b);
    }

    /// <summary>What every method knows, whatever its message types.</summary>
    public interface IMethod
    {
        /// <summary>The kind of method.</summary>
        MethodType Type { get; }
        /// <summary>The fully qualified service name ("package.Service").</summary>
        string ServiceName { get; }
        /// <summary>The method name ("Method").</summary>
        string Name { get; }
        /// <summary>The path on the wire ("/package.Service/Method").</summary>
        string FullName { get; }
    }

    /// <summary>A method of a service, with the marshallers of its messages.</summary>
    public class Method<TRequest, TResponse> : IMethod
    {
        readonly MethodType type;
        readonly string serviceName;
        readonly string name;
        readonly Marshaller<TRequest> requestMarshaller;
        readonly Marshaller<TResponse> responseMarshaller;
        readonly string fullName;

        /// <summary>Creates a method.</summary>
        public Method(MethodType type, string serviceName, string name, Marshaller<TRequest> requestMarshaller,
                      Marshaller<TResponse> responseMarshaller)
        {
            if (serviceName == null) throw new ArgumentNullException("serviceName");
            if (name == null) throw new ArgumentNullException("name");
            if (requestMarshaller == null) throw new ArgumentNullException("requestMarshaller");
            if (responseMarshaller == null) throw new ArgumentNullException("responseMarshaller");
            this.type = type;
            this.serviceName = serviceName;
            this.name = name;
            this.requestMarshaller = requestMarshaller;
            this.responseMarshaller = responseMarshaller;
            fullName = "/" + serviceName + "/" + name;
        }

        /// <inheritdoc/>
        public MethodType Type { get { return type; } }
        /// <inheritdoc/>
        public string ServiceName { get { return serviceName; } }
        /// <inheritdoc/>
        public string Name { get { return name; } }
        /// <inheritdoc/>
        public string FullName { get { return fullName; } }
        /// <summary>The request marshaller.</summary>
        public Marshaller<TRequest> RequestMarshaller { get { return requestMarshaller; } }
        /// <summary>The response marshaller.</summary>
        public Marshaller<TResponse> ResponseMarshaller { get { return responseMarshaller; } }
    }
}
