# frozen_string_literal: true

require_relative "test_helper"

# Client and server interceptors in the grpc gem's shape.
class InterceptorsTest < PolyTest
  class Recording < PolyRPC::ClientInterceptor
    def initialize(log, name)
      super()
      @log = log
      @name = name
    end

    %i[request_response client_streamer server_streamer bidi_streamer].each do |kind|
      define_method(kind) do |method:, metadata:, call:, **_rest, &blk|
        @log << [@name, kind, method, call.deadline.class]
        metadata["x-#{@name}"] = "was here"
        blk.call
      end
    end
  end

  class ServerRecording < PolyRPC::ServerInterceptor
    def initialize(log)
      super()
      @log = log
    end

    def request_response(request:, call:, method:)
      raise PolyRPC::PermissionDenied.new("denied by interceptor") if request.message == "deny"
      @log << [:server, :request_response, method.name, call.metadata["x-a"]]
      yield
    end

    def server_streamer(request:, call:, method:)
      @log << [:server, :server_streamer, method.name, request.repeat]
      yield
    end

    def client_streamer(call:, method:)
      @log << [:server, :client_streamer, method.name]
      yield
    end

    def bidi_streamer(requests:, call:, method:)
      @log << [:server, :bidi_streamer, method.name, requests.class]
      yield
    end
  end

  def setup
    @server_log = Queue.new
    impl = Class.new(TestSupport::EchoService) do
      def unary(req, call)
        Reply.new(message: [call.metadata["x-a"], call.metadata["x-b"], req.message].join("|"))
      end

      def expand(req, _call)
        Array.new(req.repeat) { |i| Reply.new(index: i) }
      end

      def collect(call)
        Reply.new(index: call.each_remote_read.count)
      end

      def chat(requests)
        requests.map { |r| Reply.new(message: r.message) }
      end
    end.new
    _, @port = start_server(impl, interceptors: [ServerRecording.new(@server_log)])
    @log = []
    @stub = stub_for(@port, interceptors: [Recording.new(@log, "a"), Recording.new(@log, "b")])
  end

  def test_every_kind_is_intercepted_on_both_sides
    assert_equal "was here|was here|m", @stub.unary(Req.new(message: "m")).message
    assert_equal 3, @stub.expand(Req.new(repeat: 3)).to_a.size
    assert_equal 2, @stub.collect([Req.new, Req.new]).index
    assert_equal %w[x], @stub.chat([Req.new(message: "x")]).map(&:message)
    kinds = @log.map { |l| l[1] }.uniq
    assert_equal %i[request_response server_streamer client_streamer bidi_streamer], kinds
    # The last interceptor given is the outermost, as in the grpc gem.
    assert_equal %w[b a], @log.first(2).map(&:first)
    assert_equal "/polyrpc.rbtest.Echo/Unary", @log.first[2]
    assert_equal Time, @log.first[3]
    server = Array.new(4) { @server_log.pop }
    assert_equal [:server, :request_response, :unary, "was here"], server[0]
    assert_equal [:server, :server_streamer, :expand, 3], server[1]
    assert_equal [:server, :client_streamer, :collect], server[2]
    assert_equal :bidi_streamer, server[3][1]
  end

  def test_server_interceptor_can_refuse
    e = assert_raises(PolyRPC::PermissionDenied) { @stub.unary(Req.new(message: "deny")) }
    assert_equal "denied by interceptor", e.details
  end

  def test_operation_runs_the_interceptors_on_execute
    op = @stub.unary(Req.new(message: "op"), return_op: true)
    assert_empty @log
    assert_equal "was here|was here|op", op.execute.message
    assert_equal 2, @log.size
  end

  def test_interceptors_must_descend_from_interceptor
    assert_raises(PolyRPC::InterceptorRegistry::DescendantError) do
      stub_for(@port, interceptors: [Object.new])
    end
  end
end
