// TLS and mutual TLS with the test PKI of tools/gen-test-certs.sh (build/certs).
using System;
using System.Threading.Tasks;
using NUnit.Framework;
using PolyRpc.Core;

namespace PolyRpc.Tests
{
    [TestFixture, Timeout(60000)]
    public class TlsTest
    {
        static ServerCredentials ServerTls(bool requireClientCert)
        {
            var pair = new KeyCertificatePair(TestEnv.Cert("server.pem"), TestEnv.Cert("server.key"));
            return new SslServerCredentials(new[] { pair }, requireClientCert ? TestEnv.Cert("ca.pem") : null, requireClientCert);
        }

        static ChannelOption[] Override()
        {
            return new[] { new ChannelOption(ChannelOptions.SslTargetNameOverride, "foo.test.google.fr") };
        }

        [Test]
        public async Task TlsCall()
        {
            using (var lo = new Loopback(serverCredentials: ServerTls(false),
                                         channelCredentials: new SslCredentials(TestEnv.Cert("ca.pem")),
                                         channelOptions: Override()))
            {
                Assert.AreEqual("secret", await lo.Invoker.AsyncUnaryCall(Svc.Echo, null, new CallOptions(), "secret"));
                Assert.AreEqual("blocking", lo.Invoker.BlockingUnaryCall(Svc.Echo, null, new CallOptions(), "blocking"));
                using (var call = lo.Invoker.AsyncDuplexStreamingCall(Svc.Chat, null, new CallOptions()))
                {
                    await call.RequestStream.WriteAsync("x");
                    Assert.IsTrue(await call.ResponseStream.MoveNext());
                    Assert.AreEqual("re:x", call.ResponseStream.Current);
                    await call.RequestStream.CompleteAsync();
                    Assert.IsFalse(await call.ResponseStream.MoveNext());
                }
            }
        }

        [Test]
        public void UntrustedServerIsUnavailable()
        {
            // The system roots do not know the test CA.
            using (var lo = new Loopback(serverCredentials: ServerTls(false), channelCredentials: new SslCredentials(),
                                         channelOptions: Override()))
            {
                var e = Assert.Throws<RpcException>(() => lo.Invoker.BlockingUnaryCall(
                    Svc.Echo, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10)), "x"));
                Assert.AreEqual(StatusCode.Unavailable, e.StatusCode);
            }
        }

        [Test]
        public void PlaintextClientOnTlsPortFails()
        {
            using (var lo = new Loopback(serverCredentials: ServerTls(false)))
            {
                var e = Assert.Throws<RpcException>(() => lo.Invoker.BlockingUnaryCall(
                    Svc.Echo, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10)), "x"));
                Assert.AreEqual(StatusCode.Unavailable, e.StatusCode);
            }
        }

        [Test]
        public void MutualTls()
        {
            var client = new KeyCertificatePair(TestEnv.Cert("client.pem"), TestEnv.Cert("client.key"));
            using (var lo = new Loopback(serverCredentials: ServerTls(true),
                                         channelCredentials: new SslCredentials(TestEnv.Cert("ca.pem"), client),
                                         channelOptions: Override()))
            {
                Assert.AreEqual("mtls", lo.Invoker.BlockingUnaryCall(Svc.Echo, null, new CallOptions(), "mtls"));
            }
            // Without a client certificate the server refuses the handshake.
            using (var lo = new Loopback(serverCredentials: ServerTls(true),
                                         channelCredentials: new SslCredentials(TestEnv.Cert("ca.pem")),
                                         channelOptions: Override()))
            {
                var e = Assert.Throws<RpcException>(() => lo.Invoker.BlockingUnaryCall(
                    Svc.Echo, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10)), "x"));
                Assert.AreEqual(StatusCode.Unavailable, e.StatusCode);
            }
        }

        [Test]
        public void CallCredentialsOverTls()
        {
            var creds = ChannelCredentials.Create(new SslCredentials(TestEnv.Cert("ca.pem")),
                                                  CallCredentials.FromAccessToken("t0k3n"));
            using (var lo = new Loopback(serverCredentials: ServerTls(false), channelCredentials: creds,
                                         channelOptions: Override()))
            {
                StringAssert.EndsWith("|Bearer t0k3n", lo.Invoker.BlockingUnaryCall(Svc.Headers, null, new CallOptions(), ""));
                // Per-call credentials from an interceptor, added to the channel's.
                var perCall = CallCredentials.FromInterceptor((context, metadata) =>
                {
                    Assert.AreEqual("Headers", context.MethodName);
                    metadata.Add("x-echo", "from-plugin");
                    return Task.FromResult(0);
                });
                var call = lo.Invoker.AsyncUnaryCall(Svc.Headers, null, new CallOptions(credentials: perCall), "");
                StringAssert.EndsWith("|Bearer t0k3n", call.ResponseAsync.Result);
                Assert.AreEqual("from-plugin", call.ResponseHeadersAsync.Result.GetValue("x-echo"));
            }
        }

        [Test]
        public void BadPemIsArgumentException()
        {
            var e = Assert.Throws<ArgumentException>(() => new Channel("127.0.0.1:1", new SslCredentials("not a certificate")));
            StringAssert.Contains("TLS", e.Message);
            var server = new Server();
            var bad = new SslServerCredentials(new[] { new KeyCertificatePair("junk", "junk") });
            Assert.Throws<ArgumentException>(() => server.Ports.Add("127.0.0.1", 0, bad));
            server.KillAsync().Wait(5000);
        }
    }
}
