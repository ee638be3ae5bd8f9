// Transport and call credentials, as in Grpc.Core.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using PolyRpc.Core.Internal;
using PolyRpc.Native;
using N = PolyRpc.Native.PolyRpcNative;

namespace PolyRpc.Core
{
    /// <summary>A PEM certificate chain and its private key.</summary>
    public sealed class KeyCertificatePair
    {
        /// <summary>Creates a pair from PEM text.</summary>
        public KeyCertificatePair(string certificateChain, string privateKey)
        {
            if (certificateChain == null) throw new ArgumentNullException("certificateChain");
            if (privateKey == null) throw new ArgumentNullException("privateKey");
            CertificateChain = certificateChain;
            PrivateKey = privateKey;
        }

        /// <summary>The certificate chain (PEM).</summary>
        public string CertificateChain { get; private set; }
        /// <summary>The private key (PEM).</summary>
        public string PrivateKey { get; private set; }
    }

    /// <summary>Transport security of a channel.</summary>
    public abstract class ChannelCredentials
    {
        /// <summary>Plaintext HTTP/2 (h2c).</summary>
        public static ChannelCredentials Insecure { get; } = new InsecureCredentials();

        /// <summary>Credentials for TLS with the system's root certificates.</summary>
        public static ChannelCredentials SecureSsl { get; } = new SslCredentials();

        /// <summary>Channel credentials that also apply callCredentials to every call.</summary>
        public static ChannelCredentials Create(ChannelCredentials channelCredentials, CallCredentials callCredentials)
        {
            if (channelCredentials == null) throw new ArgumentNullException("channelCredentials");
            if (callCredentials == null) throw new ArgumentNullException("callCredentials");
            return new CompositeChannelCredentials(channelCredentials, callCredentials);
        }

        internal abstract ChannelCredentialsHandle CreateNative();

        /// <summary>Call credentials every call of the channel carries (null: none).</summary>
        internal virtual CallCredentials CallCredentials { get { return null; } }

        sealed class InsecureCredentials : ChannelCredentials
        {
            internal override ChannelCredentialsHandle CreateNative()
            {
                IntPtr p;
                N.polyrpc_channel_credentials_create_insecure(out p);
                return ChannelCredentialsHandle.Wrap(p);
            }
        }

        sealed class CompositeChannelCredentials : ChannelCredentials
        {
            readonly ChannelCredentials inner;
            readonly CallCredentials call;

            internal CompositeChannelCredentials(ChannelCredentials inner, CallCredentials call)
            {
                this.inner = inner;
                this.call = inner.CallCredentials == null ? call : CallCredentials.Compose(inner.CallCredentials, call);
            }

            internal override ChannelCredentialsHandle CreateNative() { return inner.CreateNative(); }
            internal override CallCredentials CallCredentials { get { return call; } }
        }
    }

    /// <summary>TLS (with ALPN h2) for a channel.</summary>
    public sealed class SslCredentials : ChannelCredentials
    {
        /// <summary>TLS with the system's root certificates.</summary>
        public SslCredentials() : this(null, null) { }

        /// <summary>TLS trusting rootCertificates (PEM; null: the system's).</summary>
        public SslCredentials(string rootCertificates) : this(rootCertificates, null) { }

        /// <summary>TLS trusting rootCertificates, presenting keyCertificatePair (mutual TLS; may be null).</summary>
        public SslCredentials(string rootCertificates, KeyCertificatePair keyCertificatePair)
        {
            RootCertificates = rootCertificates;
            KeyCertificatePair = keyCertificatePair;
        }

        /// <summary>The trusted roots (PEM), or null for the system's.</summary>
        public string RootCertificates { get; private set; }
        /// <summary>The client certificate, or null.</summary>
        public KeyCertificatePair KeyCertificatePair { get; private set; }

        internal override ChannelCredentialsHandle CreateNative()
        {
            IntPtr p;
            try
            {
                N.polyrpc_channel_credentials_create_tls(RootCertificates,
                    KeyCertificatePair == null ? null : KeyCertificatePair.CertificateChain,
                    KeyCertificatePair == null ? null : KeyCertificatePair.PrivateKey, out p);
            }
            catch (NativeException e)
            {
                throw new ArgumentException("TLS credentials: " + e.Message);
            }
            return ChannelCredentialsHandle.Wrap(p);
        }
    }

    /// <summary>Context given to an AsyncAuthInterceptor.</summary>
    public sealed class AuthInterceptorContext
    {
        /// <summary>Creates a context.</summary>
        public AuthInterceptorContext(string serviceUrl, string methodName)
        {
            ServiceUrl = serviceUrl;
            MethodName = methodName;
        }

        /// <summary>The service's URL ("https://host/package.Service").</summary>
        public string ServiceUrl { get; private set; }
        /// <summary>The method name.</summary>
        public string MethodName { get; private set; }
    }

    /// <summary>Adds authentication metadata to a call before it starts.</summary>
    public delegate Task AsyncAuthInterceptor(AuthInterceptorContext context, Metadata metadata);

    /// <summary>Credentials of a call: metadata added to its headers before it starts.</summary>
    public abstract class CallCredentials
    {
        /// <summary>Call credentials from an interceptor that adds metadata. It runs on the thread
        /// that starts the call, before anything is sent; the call waits for its task, so it should
        /// complete quickly (a cached token).</summary>
        public static CallCredentials FromInterceptor(AsyncAuthInterceptor interceptor)
        {
            if (interceptor == null) throw new ArgumentNullException("interceptor");
            return new InterceptorCredentials(interceptor);
        }

        /// <summary>polyrpc: "authorization: Bearer token" on every call, added by the C ABI
        /// (polyrpc_call_credentials_create_bearer).</summary>
        public static CallCredentials FromAccessToken(string accessToken)
        {
            if (accessToken == null) throw new ArgumentNullException("accessToken");
            foreach (char c in accessToken)
            {
                if (c < 0x20 || c > 0x7e) throw new ArgumentException("an access token must be printable ASCII");
            }
            return new BearerCredentials(accessToken);
        }

        /// <summary>All of these, in order.</summary>
        public static CallCredentials Compose(params CallCredentials[] credentials)
        {
            if (credentials == null || credentials.Length == 0) throw new ArgumentException("no credentials to compose");
            var all = new List<CallCredentials>();
            foreach (var c in credentials)
            {
                if (c == null) throw new ArgumentNullException("credentials");
                var composite = c as CompositeCallCredentials;
                if (composite != null) all.AddRange(composite.Parts); else all.Add(c);
            }
            return new CompositeCallCredentials(all);
        }

        internal virtual IEnumerable<CallCredentials> Parts { get { yield return this; } }

        internal sealed class InterceptorCredentials : CallCredentials
        {
            internal readonly AsyncAuthInterceptor Interceptor;
            internal InterceptorCredentials(AsyncAuthInterceptor interceptor) { Interceptor = interceptor; }
        }

        internal sealed class BearerCredentials : CallCredentials
        {
            internal readonly string Token;
            internal BearerCredentials(string token) { Token = token; }

            internal CallCredentialsHandle CreateNative()
            {
                IntPtr p;
                N.polyrpc_call_credentials_create_bearer(Token, out p);
                return CallCredentialsHandle.Wrap(p);
            }
        }

        sealed class CompositeCallCredentials : CallCredentials
        {
            readonly List<CallCredentials> parts;
            internal CompositeCallCredentials(List<CallCredentials> parts) { this.parts = parts; }
            internal override IEnumerable<CallCredentials> Parts { get { return parts; } }
        }
    }

    /// <summary>Transport security of a server port.</summary>
    public abstract class ServerCredentials
    {
        /// <summary>Plaintext HTTP/2 (h2c).</summary>
        public static ServerCredentials Insecure { get; } = new InsecureServerCredentials();

        internal abstract ServerCredentialsHandle CreateNative();

        sealed class InsecureServerCredentials : ServerCredentials
        {
            internal override ServerCredentialsHandle CreateNative()
            {
                IntPtr p;
                N.polyrpc_server_credentials_create_insecure(out p);
                return ServerCredentialsHandle.Wrap(p);
            }
        }
    }

    /// <summary>TLS for a server port.</summary>
    public sealed class SslServerCredentials : ServerCredentials
    {
        /// <summary>TLS with this certificate and key; no client certificates.</summary>
        public SslServerCredentials(IEnumerable<KeyCertificatePair> keyCertificatePairs)
            : this(keyCertificatePairs, null, false) { }

        /// <summary>TLS with this certificate and key; rootCertificates (PEM, may be null) verify
        /// client certificates, which forceClientAuth requires (mutual TLS).</summary>
        public SslServerCredentials(IEnumerable<KeyCertificatePair> keyCertificatePairs, string rootCertificates,
                                    bool forceClientAuth)
        {
            if (keyCertificatePairs == null) throw new ArgumentNullException("keyCertificatePairs");
            var pairs = keyCertificatePairs.ToList();
            if (pairs.Count != 1)
                throw new ArgumentException("polyrpc serves one key-certificate pair per port (got " + pairs.Count + ")");
            if (pairs[0] == null) throw new ArgumentNullException("keyCertificatePairs");
            if (forceClientAuth && rootCertificates == null)
                throw new ArgumentException("forceClientAuth needs rootCertificates to verify the clients with");
            KeyCertificatePairs = pairs.AsReadOnly();
            RootCertificates = rootCertificates;
            ForceClientAuthentication = forceClientAuth;
        }

        /// <summary>The server's certificate and key.</summary>
        public IList<KeyCertificatePair> KeyCertificatePairs { get; private set; }
        /// <summary>Roots that verify client certificates (PEM), or null.</summary>
        public string RootCertificates { get; private set; }
        /// <summary>True: clients must present a certificate.</summary>
        public bool ForceClientAuthentication { get; private set; }

        internal override ServerCredentialsHandle CreateNative()
        {
            IntPtr p;
            try
            {
                N.polyrpc_server_credentials_create_tls(KeyCertificatePairs[0].CertificateChain,
                    KeyCertificatePairs[0].PrivateKey, RootCertificates, ForceClientAuthentication ? 1 : 0, out p);
            }
            catch (NativeException e)
            {
                throw new ArgumentException("TLS server credentials: " + e.Message);
            }
            return ServerCredentialsHandle.Wrap(p);
        }
    }
}
