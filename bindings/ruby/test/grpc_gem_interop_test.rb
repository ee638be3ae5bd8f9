# frozen_string_literal: true

require_relative "test_helper"
require "grpc"

# Wire compatibility with the real thing: polyrpc clients against a grpc gem (1.51) server,
# and grpc gem clients against a polyrpc server, every kind of call, metadata and statuses.
class GrpcGemInteropTest < PolyTest
  Req = TestSupport::Req
  Reply = TestSupport::Reply
  # The test service for the grpc gem, the same messages and paths.
  class GrpcEcho
    include GRPC::GenericService
    self.marshal_class_method = :encode
    self.unmarshal_class_method = :decode
    self.service_name = "polyrpc.rbtest.Echo"
    rpc :Unary, Req, Reply
    rpc :Collect, stream(Req), Reply
    rpc :Expand, Req, stream(Reply)
    rpc :Chat, stream(Req), stream(Reply)
  end
  GrpcStub = GrpcEcho.rpc_stub_class

  class GrpcImpl < GrpcEcho
    attr_reader :seen

    def initialize
      super
      @seen = Queue.new
    end

    def unary(req, call)
      if req.sleep_ms.positive?
        deadline = Time.now + req.sleep_ms / 1000.0
        sleep 0.005 until Time.now > deadline || call.cancelled?
        @seen << [:cancelled, req.message] if call.cancelled?
      end
      raise GRPC::BadStatus.new_status_exception(req.code, "grpc says #{req.code}", "why" => "grpc") if req.code != 0
      call.output_metadata["x-trailer"] = "from-grpc"
      Reply.new(message: req.echo_metadata.empty? ? req.message : call.metadata[req.echo_metadata].to_s,
                payload: req.payload)
    end

    def collect(call)
      Reply.new(message: call.each_remote_read.map(&:message).join(","))
    end

    # repeat < 0: one reply every 20 ms until the client goes away (the grpc gem's server then
    # fails the next write, which ends this generator).
    def expand(req, _call)
      return Array.new(req.repeat) { |i| Reply.new(message: req.message, index: i) } unless req.repeat.negative?
      seen = @seen
      Enumerator.new do |y|
        i = 0
        begin
          loop do
            y << Reply.new(message: req.message, index: i)
            i += 1
            sleep 0.02
            break if i > 2000
          end
        ensure
          seen << [:stream_ended, req.message, i]
        end
      end
    end

    def chat(requests, _call)
      requests.lazy.map { |r| Reply.new(message: r.message.upcase) }
    end
  end

  def start_grpc_server
    @grpc_impl = GrpcImpl.new
    @grpc_server = GRPC::RpcServer.new(pool_size: 4, poll_period: 0.2)
    port = @grpc_server.add_http2_port("127.0.0.1:0", :this_port_is_insecure)
    @grpc_server.handle(@grpc_impl)
    @grpc_thread = Thread.new { @grpc_server.run }
    assert @grpc_server.wait_till_running(10)
    port
  end

  def teardown
    if @grpc_server
      @grpc_server.stop
      @grpc_thread.join(10)
    end
    super
  end

  # ---- polyrpc client, grpc gem server ----

  def test_polyrpc_client_every_kind
    stub = stub_for(start_grpc_server)
    assert_equal "\x01\x02".b, stub.unary(Req.new(message: "u", payload: "\x01\x02".b)).payload
    assert_equal "a,b", stub.collect([Req.new(message: "a"), Req.new(message: "b")]).message
    assert_equal [0, 1, 2], stub.expand(Req.new(message: "s", repeat: 3)).map(&:index)
    assert_equal %w[X Y], stub.chat([Req.new(message: "x"), Req.new(message: "y")]).map(&:message)
  end

  def test_polyrpc_client_metadata_and_status
    stub = stub_for(start_grpc_server)
    op = stub.unary(Req.new(echo_metadata: "x-in"), metadata: { "x-in" => "polyrpc" }, return_op: true)
    assert_equal "polyrpc", op.execute.message
    assert_equal "from-grpc", op.trailing_metadata["x-trailer"]
    e = assert_raises(PolyRPC::NotFound) { stub.unary(Req.new(code: 5)) }
    assert_equal "grpc says 5", e.details
    assert_equal "grpc", e.metadata["why"]
    assert_raises(PolyRPC::DeadlineExceeded) { stub.unary(Req.new(sleep_ms: 2000), deadline: Time.now + 0.2) }
  end

  def test_polyrpc_client_cancel_reaches_a_grpc_server
    stub = stub_for(start_grpc_server)
    got = Queue.new
    t = Thread.new { stub.expand(Req.new(message: "bye", repeat: -1)).each { |r| got << r.index } }
    t.report_on_exception = false
    Timeout.timeout(5) { 3.times { got.pop } }
    t.raise(IOError, "go")
    assert_raises(IOError) { t.join }
    kind, msg, sent = Timeout.timeout(5) { @grpc_impl.seen.pop }
    assert_equal [:stream_ended, "bye"], [kind, msg]
    assert_operator sent, :<, 500, "the grpc server stopped streaming soon after the cancel"
  end

  # ---- grpc gem client, polyrpc server ----

  def test_grpc_client_every_kind
    impl = TestSupport::EchoImpl.new
    _, port = start_server(impl)
    stub = GrpcStub.new("127.0.0.1:#{port}", :this_channel_is_insecure)
    assert_equal "\x03".b, stub.unary(Req.new(message: "u", payload: "\x03".b)).payload
    assert_equal "a,b,c", stub.collect(%w[a b c].map { |m| Req.new(message: m) }).message
    assert_equal [0, 1], stub.expand(Req.new(message: "s", repeat: 2)).map(&:index)
    assert_equal [0, 1], stub.chat([Req.new(message: "p"), Req.new(message: "q")]).map(&:index)
  end

  def test_grpc_client_metadata_and_status
    impl = TestSupport::EchoImpl.new
    _, port = start_server(impl)
    stub = GrpcStub.new("127.0.0.1:#{port}", :this_channel_is_insecure)
    op = stub.unary(Req.new(echo_metadata: "x-bin"), metadata: { "x-bin" => "\xff\x00".b }, return_op: true)
    assert_equal "\xff\x00".b.inspect, op.execute.message
    assert_equal "t1", op.trailing_metadata["trailer-x"]
    e = assert_raises(GRPC::PermissionDenied) { stub.unary(Req.new(code: 7)) }
    assert_equal "asked for 7", e.details
    assert_equal "asked", e.metadata["why"]
    assert_raises(GRPC::DeadlineExceeded) { stub.unary(Req.new(sleep_ms: 2000), deadline: Time.now + 0.2) }
    # The grpc gem client's deadline arrives at the polyrpc server.
    impl.seen.clear
    stub.unary(Req.new(message: "dl"), deadline: Time.now + 20)
    kind, _md, deadline = impl.seen.pop until kind == :unary # the earlier call's :cancelled may come
    assert_in_delta Time.now + 20, deadline, 2
  end

  def test_grpc_client_cancel_reaches_a_polyrpc_server
    impl = TestSupport::EchoImpl.new
    _, port = start_server(impl)
    stub = GrpcStub.new("127.0.0.1:#{port}", :this_channel_is_insecure)
    op = stub.unary(Req.new(message: "gone", sleep_ms: 5000), return_op: true)
    t = Thread.new { op.execute }
    t.report_on_exception = false
    sleep 0.3
    op.cancel
    assert_raises(GRPC::Cancelled) { t.join }
    Timeout.timeout(5) { nil until impl.seen.pop == [:cancelled, "gone"] }
  end
end
