# frozen_string_literal: true

require_relative "test_helper"

# TLS and mutual TLS (the certificates of tools/gen-test-certs.sh), and call credentials.
class SecurityTest < PolyTest
  HOST_OVERRIDE = { "grpc.ssl_target_name_override" => "foo.test.google.fr" }.freeze

  def server_creds(client_ca: nil, force: false)
    PolyRPC::Core::ServerCredentials.new(client_ca, [{ private_key: pem("server.key"), cert_chain: pem("server.pem") }], force)
  end

  def recorder
    Class.new(TestSupport::EchoService) do
      def unary(req, call)
        Reply.new(message: call.metadata[req.echo_metadata].to_s)
      end
    end.new
  end

  def test_tls
    _, port = start_server(recorder, creds: server_creds)
    creds = PolyRPC::Core::ChannelCredentials.new(pem("ca.pem"))
    stub = stub_for(port, creds, channel_args: HOST_OVERRIDE)
    assert_equal "", stub.unary(Req.new(echo_metadata: "none")).message
    assert stub.channel.secure?
  end

  def test_tls_with_the_wrong_ca_fails
    _, port = start_server(recorder, creds: server_creds)
    other_ca = File.read(File.join(cert_dir, "server.pem")) # not the issuer of itself
    stub = stub_for(port, PolyRPC::Core::ChannelCredentials.new(other_ca), channel_args: HOST_OVERRIDE)
    assert_raises(PolyRPC::Unavailable) { stub.unary(Req.new, deadline: Time.now + 5) }
  end

  def test_plaintext_client_to_tls_server_fails
    _, port = start_server(recorder, creds: server_creds)
    assert_raises(PolyRPC::Unavailable) { stub_for(port).unary(Req.new, deadline: Time.now + 5) }
  end

  def test_mutual_tls
    _, port = start_server(recorder, creds: server_creds(client_ca: pem("ca.pem"), force: true))
    mtls = PolyRPC::Core::ChannelCredentials.new(pem("ca.pem"), pem("client.key"), pem("client.pem"))
    assert_equal "", stub_for(port, mtls, channel_args: HOST_OVERRIDE).unary(Req.new).message
    no_cert = PolyRPC::Core::ChannelCredentials.new(pem("ca.pem"))
    assert_raises(PolyRPC::Unavailable) do
      stub_for(port, no_cert, channel_args: HOST_OVERRIDE).unary(Req.new, deadline: Time.now + 5)
    end
  end

  def test_bad_pem_is_an_argument_error
    assert_raises(ArgumentError) { PolyRPC::Core::ChannelCredentials.new("not a certificate") }
    assert_raises(ArgumentError) { PolyRPC::Core::ChannelCredentials.new(pem("ca.pem"), pem("client.key")) }
    assert_raises(ArgumentError) { PolyRPC::Core::ServerCredentials.new(nil, [{ private_key: "x", cert_chain: "y" }]) }
    assert_raises(TypeError) { PolyRPC::Core::ChannelCredentials.new(42) }
  end

  def test_call_credentials_composed_into_the_channel
    _, port = start_server(recorder, creds: server_creds)
    contexts = Queue.new
    token = PolyRPC::Core::CallCredentials.new(proc { |ctx| contexts << ctx; { "authorization" => "Bearer t0k3n" } })
    extra = PolyRPC::Core::CallCredentials.new { |_| { "x-extra" => "e" } }
    creds = PolyRPC::Core::ChannelCredentials.new(pem("ca.pem")).compose(token, extra)
    stub = stub_for(port, creds, channel_args: HOST_OVERRIDE)
    assert_equal "Bearer t0k3n", stub.unary(Req.new(echo_metadata: "authorization")).message
    assert_equal "e", stub.unary(Req.new(echo_metadata: "x-extra")).message
    ctx = contexts.pop
    assert_equal "https://foo.test.google.fr/polyrpc.rbtest.Echo", ctx[:jwt_aud_uri]
    assert_equal "Unary", ctx[:method_name]
  end

  def test_per_call_credentials
    _, port = start_server(recorder, creds: server_creds)
    stub = stub_for(port, PolyRPC::Core::ChannelCredentials.new(pem("ca.pem")), channel_args: HOST_OVERRIDE)
    creds = PolyRPC::Core::CallCredentials.new(proc { { "authorization" => "Bearer per-call" } })
    assert_equal "Bearer per-call", stub.unary(Req.new(echo_metadata: "authorization"), credentials: creds).message
    assert_equal "", stub.unary(Req.new(echo_metadata: "authorization")).message
  end

  def test_call_credentials_are_not_sent_in_plaintext
    _, port = start_server(recorder)
    creds = PolyRPC::Core::CallCredentials.new(proc { { "authorization" => "Bearer secret" } })
    e = assert_raises(PolyRPC::Unavailable) { stub_for(port).unary(Req.new, credentials: creds) }
    assert_match(/security level/, e.details)
  end

  def test_failing_call_credentials_fail_the_call
    _, port = start_server(recorder, creds: server_creds)
    bad = PolyRPC::Core::CallCredentials.new(proc { raise "no token today" })
    stub = stub_for(port, PolyRPC::Core::ChannelCredentials.new(pem("ca.pem")), channel_args: HOST_OVERRIDE)
    e = assert_raises(PolyRPC::Unavailable) { stub.unary(Req.new, credentials: bad) }
    assert_match(/no token today/, e.details)
    not_hash = PolyRPC::Core::CallCredentials.new(proc { "a string" })
    assert_raises(PolyRPC::Unavailable) { stub.unary(Req.new, credentials: not_hash) }
  end
end
