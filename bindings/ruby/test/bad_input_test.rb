# frozen_string_literal: true

require_relative "test_helper"

# Wrong types, closed objects and oversized messages get Ruby exceptions with a clear message;
# the process goes on, and so does the channel.
class BadInputTest < PolyTest
  def setup
    _, @port = start_server
    @stub = stub_for(@port)
  end

  def test_metadata_types
    e = assert_raises(TypeError) { @stub.unary(Req.new, metadata: { "k" => 42 }) }
    assert_match(/metadata value for key "k" must be a String/, e.message)
    assert_raises(TypeError) { @stub.unary(Req.new, metadata: { 42 => "v" }) }
    assert_raises(TypeError) { @stub.unary(Req.new, metadata: [["k", "v"]]) }
    assert_raises(TypeError) { @stub.unary(Req.new, metadata: { "k" => ["ok", :not_a_string] }) }
    e = assert_raises(ArgumentError) { @stub.unary(Req.new, metadata: { "Bad Key" => "v" }) }
    assert_match(/invalid metadata key/, e.message)
    assert_raises(ArgumentError) { @stub.unary(Req.new, metadata: { "content-type" => "x" }) }
    assert_raises(ArgumentError) { @stub.unary(Req.new, metadata: { "k" => "line\nbreak" }) }
    assert_raises(ArgumentError) { @stub.unary(Req.new, metadata: { "a\0b" => "v" }) }
    assert_equal "fine", @stub.unary(Req.new(message: "fine")).message
  end

  def test_wrong_arguments
    assert_raises(TypeError) { @stub.unary(Req.new, deadline: 5) }
    assert_raises(TypeError) { @stub.collect(42) }
    assert_raises(TypeError) { @stub.unary(Reply.new) } # protobuf refuses another message class
    assert_raises(TypeError) { stub_for(@port, "insecure") }
    assert_raises(TypeError) { PolyRPC::ClientStub.new(nil, :this_channel_is_insecure) }
    assert_raises(TypeError) { stub_for(@port, channel_args: { "grpc.keepalive_time_ms" => 1.5 }) }
    assert_raises(ArgumentError) { PolyRPC::ClientStub.new("", :this_channel_is_insecure) }
    assert_raises(TypeError) { @stub.unary(Req.new, credentials: "token") }
    assert_raises(TypeError) { PolyRPC::RpcServer.new.add_http2_port("127.0.0.1:0", :insecure) }
    assert_raises(ArgumentError) { PolyRPC::RpcServer.new(pool_size: 0) }
  end

  def test_native_layer_checks_handles
    n = PolyRPC::Native
    assert_raises(TypeError) { n.call_unary_nogvl(n.polyrpc_cq_create, "x") }
    assert_raises(TypeError) { n.call_read_nogvl("a string") }
    e = assert_raises(n::Error) { n.call_read_nogvl(nil) }
    assert_match(/call is NULL/, e.message)
    e = assert_raises(n::Error) { n.polyrpc_call_cancel(nil) }
    assert_equal n::POLYRPC_ERROR_INVALID_ARGUMENT, e.code
  end

  def test_a_bad_stream_element_cancels_the_call
    e = assert_raises(TypeError) { @stub.collect([Req.new, "not a message"]) }
    assert_match(/cannot marshal a String as Polyrpc::Rbtest::EchoRequest/, e.message)
    assert_equal "still", @stub.unary(Req.new(message: "still")).message
  end

  def test_a_failing_request_enumerable_raises_its_error
    enum = Enumerator.new do |y|
      y << Req.new
      raise IOError, "source failed"
    end
    assert_raises(IOError) { @stub.collect(enum) }
    e = assert_raises(PolyRPC::Unknown) { @stub.chat(enum).to_a }
    assert_match(/source failed/, e.details)
  end

  def test_oversized_messages
    small = stub_for(@port, channel_args: { "grpc.max_receive_message_length" => 1024 })
    assert_raises(PolyRPC::ResourceExhausted) { small.unary(Req.new(payload: "x" * 4096)) }
    # The server's default receive limit is 4 MiB.
    assert_raises(PolyRPC::ResourceExhausted) { @stub.unary(Req.new(payload: "x" * (5 << 20))) }
    assert_equal "ok", @stub.unary(Req.new(message: "ok")).message
  end

  def test_closed_channel
    ch = PolyRPC::Core::Channel.new("127.0.0.1:#{@port}", {}, :this_channel_is_insecure)
    stub = stub_for(@port, channel_override: ch)
    assert_equal "a", stub.unary(Req.new(message: "a")).message
    ch.close
    assert_equal PolyRPC::Core::ConnectivityStates::SHUTDOWN, ch.connectivity_state
    e = assert_raises(PolyRPC::Native::Error) { stub.unary(Req.new) }
    assert_match(/closed/, e.message)
  end

  def test_nothing_listens
    port = TCPServer.open("127.0.0.1", 0) { |s| s.addr[1] }
    e = assert_raises(PolyRPC::Unavailable) { stub_for(port).unary(Req.new, deadline: Time.now + 5) }
    assert_equal 14, e.code
  end

  def test_rpc_names_that_would_replace_object_methods
    e = assert_raises(ArgumentError) do
      Class.new do
        include PolyRPC::GenericService
        rpc :Hash, Req, Reply
      end
    end
    assert_match(/would define the method hash/, e.message)
    assert_raises(ArgumentError) do
      Class.new do
        include PolyRPC::GenericService
        rpc :RequestResponse, Req, Reply
      end
    end
    assert_raises(ArgumentError) { Class.new { include PolyRPC::GenericService; rpc :M, String, Reply } }
  end

  def test_server_misuse
    s = PolyRPC::RpcServer.new
    assert_raises(RuntimeError) { s.run } # no services
    assert_raises(RuntimeError) { s.stop } # not started
    assert_raises(RuntimeError) { s.handle(Object) }
    assert_raises(RuntimeError) { s.add_http2_port("256.0.0.1:1", :this_port_is_insecure) }
  end
end
