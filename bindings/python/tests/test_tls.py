"""TLS, mutual TLS and per-call bearer tokens."""

import pytest

import polyrpc
from conftest import path, start_server

OVERRIDE = (("grpc.ssl_target_name_override", "foo.test.google.fr"),)


@pytest.fixture(scope="module")
def tls_server(certs):
    creds = polyrpc.ssl_server_credentials([(certs["server.key"], certs["server.pem"])])
    s = start_server(credentials=creds)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def mtls_server(certs):
    creds = polyrpc.ssl_server_credentials([(certs["server.key"], certs["server.pem"])],
                                           root_certificates=certs["ca.pem"],
                                           require_client_auth=True)
    s = start_server(credentials=creds)
    yield s
    s.stop()


def test_tls_unary_and_stream(tls_server, certs):
    creds = polyrpc.ssl_channel_credentials(root_certificates=certs["ca.pem"])
    with polyrpc.secure_channel("localhost:%d" % tls_server.port, creds) as ch:
        assert ch.unary_unary(path("Echo"))(b"secret", timeout=5) == b"secret"
        assert list(ch.unary_stream(path("Stream"))(b"3", timeout=5)) == [b"0", b"1", b"2"]


def test_tls_name_override(tls_server, certs):
    creds = polyrpc.ssl_channel_credentials(root_certificates=certs["ca.pem"])
    with polyrpc.secure_channel(tls_server.target, creds, options=OVERRIDE) as ch:
        assert ch.unary_unary(path("Echo"))(b"x", timeout=5) == b"x"


def test_tls_untrusted_server_fails(tls_server):
    # The system bundle does not trust the throwaway CA.
    with polyrpc.secure_channel("localhost:%d" % tls_server.port,
                                polyrpc.ssl_channel_credentials()) as ch:
        with pytest.raises(polyrpc.RpcError) as info:
            ch.unary_unary(path("Echo"))(b"x", timeout=5)
        assert info.value.code() is polyrpc.StatusCode.UNAVAILABLE


def test_plaintext_client_to_tls_server_fails(tls_server):
    with polyrpc.insecure_channel(tls_server.target) as ch:
        with pytest.raises(polyrpc.RpcError) as info:
            ch.unary_unary(path("Echo"))(b"x", timeout=5)
        assert info.value.code() is polyrpc.StatusCode.UNAVAILABLE


def test_mutual_tls(mtls_server, certs):
    good = polyrpc.ssl_channel_credentials(certs["ca.pem"], certs["client.key"],
                                           certs["client.pem"])
    with polyrpc.secure_channel("localhost:%d" % mtls_server.port, good) as ch:
        assert ch.unary_unary(path("Echo"))(b"m", timeout=5) == b"m"
    no_cert = polyrpc.ssl_channel_credentials(certs["ca.pem"])
    with polyrpc.secure_channel("localhost:%d" % mtls_server.port, no_cert) as ch:
        with pytest.raises(polyrpc.RpcError) as info:
            ch.unary_unary(path("Echo"))(b"m", timeout=5)
        assert info.value.code() is polyrpc.StatusCode.UNAVAILABLE


def test_bearer_token(tls_server, certs):
    token = polyrpc.access_token_call_credentials("tok-123")
    creds = polyrpc.ssl_channel_credentials(root_certificates=certs["ca.pem"])
    with polyrpc.secure_channel("localhost:%d" % tls_server.port, creds) as ch:
        out = ch.unary_unary(path("Peer"))(b"", timeout=5, credentials=token).decode()
        assert out.endswith("|Bearer tok-123")
    composite = polyrpc.composite_channel_credentials(creds, token)
    with polyrpc.secure_channel("localhost:%d" % tls_server.port, composite) as ch:
        assert ch.unary_unary(path("Peer"))(b"", timeout=5).decode().endswith("|Bearer tok-123")


def test_bad_pem_is_value_error():
    with pytest.raises(ValueError):
        polyrpc.ssl_channel_credentials(root_certificates=b"not a certificate")
    with pytest.raises(ValueError):
        polyrpc.ssl_server_credentials([(b"bad key", b"bad cert")])
    with pytest.raises(ValueError):
        polyrpc.ssl_channel_credentials(private_key=b"k")  # without certificate_chain
