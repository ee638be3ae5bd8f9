"""Credentials objects, shaped like grpcio's: opaque holders of native credentials."""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

from . import _polyrpc


def _pem(value: Any, what: str) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("ascii")
        except UnicodeDecodeError:
            raise ValueError("%s must be PEM text (ASCII)" % what) from None
    if isinstance(value, str):
        return value
    raise TypeError("%s must be bytes (PEM) or None, got %s" % (what, type(value).__name__))


class CallCredentials:
    """Per-call credentials (``access_token_call_credentials``)."""

    def __init__(self, native: Any) -> None:
        self._native = native


class ChannelCredentials:
    """Transport credentials of a channel, optionally carrying call credentials
    (``composite_channel_credentials``) that are attached to every call."""

    def __init__(self, native: Any, call_credentials: Optional[CallCredentials] = None) -> None:
        self._native = native
        self._call_credentials = call_credentials


class ServerCredentials:
    """Transport credentials of a server port."""

    def __init__(self, native: Any) -> None:
        self._native = native


def ssl_channel_credentials(root_certificates: Optional[bytes] = None,
                            private_key: Optional[bytes] = None,
                            certificate_chain: Optional[bytes] = None) -> ChannelCredentials:
    """TLS credentials for a client channel, as ``grpc.ssl_channel_credentials``.

    Args:
      root_certificates: PEM CA certificates, or None for the system's bundle.
      private_key: PEM private key for mutual TLS, or None.
      certificate_chain: PEM certificate chain for mutual TLS, or None.
    """
    root = _pem(root_certificates, "root_certificates")
    key = _pem(private_key, "private_key")
    chain = _pem(certificate_chain, "certificate_chain")
    if (key is None) != (chain is None):
        raise ValueError("private_key and certificate_chain must be given together")
    return ChannelCredentials(_polyrpc.ChannelCredentials.tls(root, chain, key))


def ssl_server_credentials(private_key_certificate_chain_pairs: Sequence[Tuple[bytes, bytes]],
                           root_certificates: Optional[bytes] = None,
                           require_client_auth: bool = False) -> ServerCredentials:
    """TLS credentials for a server port, as ``grpc.ssl_server_credentials``.

    Args:
      private_key_certificate_chain_pairs: ``[(private_key_pem, certificate_chain_pem)]``;
        polyrpc serves one certificate, so exactly one pair is accepted.
      root_certificates: PEM CA certificates that verify client certificates, or None.
      require_client_auth: refuse clients without a valid certificate (mutual TLS).
    """
    pairs = list(private_key_certificate_chain_pairs or ())
    if len(pairs) != 1:
        raise ValueError("exactly one (private_key, certificate_chain) pair is supported, got %d"
                         % len(pairs))
    pair = pairs[0]
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise TypeError("expected a (private_key, certificate_chain) pair")
    key = _pem(pair[0], "private key")
    chain = _pem(pair[1], "certificate chain")
    if key is None or chain is None:
        raise ValueError("the private key and certificate chain are required")
    if require_client_auth and root_certificates is None:
        raise ValueError("require_client_auth needs root_certificates to verify clients")
    return ServerCredentials(_polyrpc.ServerCredentials.tls(
        chain, key, _pem(root_certificates, "root_certificates"), bool(require_client_auth)))


def insecure_server_credentials() -> ServerCredentials:
    """Plaintext server credentials (for ``add_secure_port`` call sites that switch)."""
    return ServerCredentials(_polyrpc.ServerCredentials.insecure())


def access_token_call_credentials(access_token: str) -> CallCredentials:
    """Call credentials sending ``authorization: Bearer <access_token>``."""
    if not isinstance(access_token, str):
        raise TypeError("access_token must be str")
    return CallCredentials(_polyrpc.CallCredentials.bearer(access_token))


def composite_call_credentials(*call_credentials: CallCredentials) -> CallCredentials:
    """Combines call credentials. polyrpc supports one bearer token per call, so this accepts
    exactly one (kept for grpcio source compatibility)."""
    if len(call_credentials) != 1:
        raise ValueError("polyrpc supports exactly one call credential per call")
    if not isinstance(call_credentials[0], CallCredentials):
        raise TypeError("expected polyrpc.CallCredentials")
    return call_credentials[0]


def composite_channel_credentials(channel_credentials: ChannelCredentials,
                                  *call_credentials: CallCredentials) -> ChannelCredentials:
    """Channel credentials whose calls all carry the given call credentials (one at most)."""
    if not isinstance(channel_credentials, ChannelCredentials):
        raise TypeError("expected polyrpc.ChannelCredentials")
    if not call_credentials:
        return channel_credentials
    call = composite_call_credentials(*call_credentials)
    return ChannelCredentials(channel_credentials._native, call)


def insecure_channel_native() -> Any:
    return _polyrpc.ChannelCredentials.insecure()
