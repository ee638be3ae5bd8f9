# frozen_string_literal: true

require_relative "test_helper"

# The four call kinds, metadata both ways, statuses, deadlines and operations, client to
# server in one process over 127.0.0.1.
class ClientServerTest < PolyTest
  def setup
    @impl = TestSupport::EchoImpl.new
    _, @port = start_server(@impl)
    @stub = stub_for(@port)
  end

  def test_unary
    r = @stub.unary(Req.new(message: "hi", payload: "\x00\xff".b))
    assert_instance_of Reply, r
    assert_equal "hi", r.message
    assert_equal "\x00\xff".b, r.payload
  end

  def test_client_streaming_from_any_enumerable
    assert_equal "a,b,c", @stub.collect(%w[a b c].map { |m| Req.new(message: m) }).message
    lazy = (1..3).lazy.map { |i| Req.new(message: i.to_s) }
    assert_equal "1,2,3", @stub.collect(lazy).message
    enum = Enumerator.new { |y| 4.times { |i| y << Req.new(message: "e#{i}") } }
    r = @stub.collect(enum)
    assert_equal 4, r.index
    assert_equal 0, @stub.collect([]).index
  end

  def test_server_streaming_is_an_enumerator
    replies = @stub.expand(Req.new(message: "x", repeat: 5))
    assert_kind_of Enumerator, replies
    assert_equal [0, 1, 2, 3, 4], replies.map(&:index)
    seen = []
    @stub.expand(Req.new(message: "y", repeat: 2)) { |r| seen << r.message }
    assert_equal %w[y y], seen
    assert_equal [], @stub.expand(Req.new(repeat: 0)).to_a
  end

  def test_server_stream_read_with_next
    e = @stub.expand(Req.new(message: "n", repeat: 2))
    assert_equal 0, e.next.index
    assert_equal 1, e.next.index
    assert_raises(StopIteration) { e.next }
  end

  def test_bidi_enumerable_in_enumerator_out
    out = @stub.chat(%w[p q r].map { |m| Req.new(message: m) })
    assert_kind_of Enumerator, out
    assert_equal [%w[p 0], %w[q 1], %w[r 2]], out.map { |r| [r.message, r.index.to_s] }
  end

  def test_bidi_ping_pong_through_a_queue
    q = Queue.new
    requests = Enumerator.new do |y|
      while (m = q.pop) != :done
        y << Req.new(message: m)
      end
    end
    replies = @stub.chat(requests)
    got = %w[one two three].map do |m|
      q << m
      replies.next.message
    end
    q << :done
    assert_raises(StopIteration) { replies.next }
    assert_equal %w[one two three], got
  end

  def test_metadata_both_ways
    op = @stub.unary(Req.new(message: "m", echo_metadata: "x-multi"),
                     metadata: { "x-multi" => %w[a b], "k-bin" => "\x00\x01".b, s: "sym" },
                     return_op: true)
    r = op.execute
    assert_equal %w[a b].inspect, r.message
    seen = @impl.seen.pop
    assert_equal :unary, seen[0]
    assert_equal %w[a b], seen[1]["x-multi"]
    assert_equal "\x00\x01".b, seen[1]["k-bin"]
    assert_equal Encoding::BINARY, seen[1]["k-bin"].encoding
    assert_equal "sym", seen[1]["s"]
    assert_equal "t1", op.trailing_metadata["trailer-x"]
    assert_kind_of Hash, op.metadata
    assert_equal PolyRPC::Core::StatusCodes::OK, op.status.code
  end

  def test_initial_metadata_from_the_server
    svc = Class.new(TestSupport::EchoService) do
      def unary(_req, call)
        call.merge_metadata_to_send("x-initial" => "i1")
        call.send_initial_metadata
        call.output_metadata["x-trailing"] = "t2"
        Reply.new(message: "ok")
      end
    end
    _, port = start_server(svc.new)
    op = stub_for(port).unary(Req.new, return_op: true)
    assert_equal "ok", op.execute.message
    assert_equal "i1", op.metadata["x-initial"]
    assert_equal "t2", op.trailing_metadata["x-trailing"]
  end

  def test_bad_status_carries_code_details_and_trailers
    PolyRPC::Core::StatusCodes.constants.each do |name|
      code = PolyRPC::Core::StatusCodes.const_get(name)
      next if code.zero?
      e = assert_raises(PolyRPC::BadStatus) { @stub.unary(Req.new(code: code)) }
      assert_equal code, e.code, name
      assert_equal "asked for #{code}", e.details
      assert_equal "asked", e.metadata["why"]
      assert_same PolyRPC::CODE_CLASSES[code], e.class
    end
    assert_raises(PolyRPC::NotFound) { @stub.unary(Req.new(code: 5)) }
    assert_raises(PolyRPC::PermissionDenied) { @stub.unary(Req.new(code: 7)) }
  end

  def test_stream_errors_after_messages
    e = @stub.expand(Req.new(message: "z", repeat: 2, code: 9))
    got = []
    err = assert_raises(PolyRPC::FailedPrecondition) { e.each { |r| got << r.index } }
    assert_equal [0, 1], got
    assert_equal "after 2", err.details
    assert_raises(PolyRPC::Aborted) { @stub.chat([Req.new(message: "a"), Req.new(code: 10)]).to_a }
  end

  def test_handler_exception_is_unknown
    svc = Class.new(TestSupport::EchoService) do
      def unary(_req, _call)
        raise ArgumentError, "bad handler"
      end
    end
    _, port = start_server(svc.new)
    e = assert_raises(PolyRPC::Unknown) { stub_for(port).unary(Req.new) }
    assert_equal "ArgumentError: bad handler", e.details
  end

  def test_unimplemented
    svc = Class.new(TestSupport::EchoService) # no handler defined: the DSL's default
    _, port = start_server(svc.new)
    assert_raises(PolyRPC::Unimplemented) { stub_for(port).unary(Req.new) }
    # A method the server does not know at all.
    other = PolyRPC::ClientStub.new("127.0.0.1:#{@port}", :this_channel_is_insecure)
    e = assert_raises(PolyRPC::Unimplemented) do
      other.request_response("/polyrpc.rbtest.Echo/Nope", Req.new, Req.method(:encode), Reply.method(:decode))
    end
    assert_equal 12, e.code
  end

  def test_deadline_exceeded
    t0 = Time.now
    e = assert_raises(PolyRPC::DeadlineExceeded) do
      @stub.unary(Req.new(sleep_ms: 3000), deadline: Time.now + 0.2)
    end
    assert_equal PolyRPC::Core::StatusCodes::DEADLINE_EXCEEDED, e.code
    assert_operator Time.now - t0, :<, 2
    # A deadline already passed, and the stub's default timeout.
    assert_raises(PolyRPC::DeadlineExceeded) { @stub.unary(Req.new, deadline: Time.now - 1) }
    short = stub_for(@port, timeout: 0.2)
    assert_raises(PolyRPC::DeadlineExceeded) { short.unary(Req.new(sleep_ms: 3000)) }
  end

  def test_server_sees_the_deadline
    @stub.unary(Req.new(message: "d"), deadline: Time.now + 30)
    _, _, deadline, left = @impl.seen.pop
    assert_in_delta Time.now + 30, deadline, 2
    assert_kind_of Float, left
    assert_operator left, :>, 25
    assert_operator left, :<=, 30
    @stub.unary(Req.new(message: "none"))
    _, _, deadline, left = @impl.seen.pop
    assert_same PolyRPC::Core::TimeConsts::INFINITE_FUTURE, deadline
    assert_nil left
  end

  def test_operation_cancel_from_another_thread
    op = @stub.unary(Req.new(message: "slow", sleep_ms: 5000), return_op: true)
    t, q = in_thread { op.execute }
    sleep 0.2
    t0 = Time.now
    op.cancel
    kind, err = q.pop
    assert_equal :error, kind
    assert_kind_of PolyRPC::Cancelled, err
    assert_operator Time.now - t0, :<, 0.5
    assert op.cancelled?
    t.join(1) rescue nil # rubocop:disable Style/RescueModifier
    assert_equal [:cancelled, "slow"], wait_for_seen(:cancelled)
  end

  def test_operation_cancelled_before_execute
    op = @stub.unary(Req.new, return_op: true)
    op.cancel
    assert_raises(PolyRPC::Cancelled) { op.execute }
  end

  def test_a_call_runs_once
    op = @stub.unary(Req.new(message: "once"), return_op: true)
    op.execute
    assert_raises(PolyRPC::Core::CallError) { op.execute }
  end

  def test_stream_operation
    op = @stub.expand(Req.new(message: "s", repeat: 3), return_op: true, metadata: { "a" => "b" })
    assert_equal 3, op.execute.to_a.size
    assert_equal 0, op.status.code
    assert_kind_of Hash, op.trailing_metadata
  end

  def test_breaking_out_of_a_stream_cancels_it
    replies = @stub.expand(Req.new(message: "b", repeat: 1000))
    replies.each { |r| break if r.index == 2 }
    # The channel is still fine.
    assert_equal "after", @stub.unary(Req.new(message: "after")).message
  end

  def test_many_threads_share_a_stub
    threads = Array.new(8) do |i|
      Thread.new { Array.new(25) { |j| @stub.unary(Req.new(message: "#{i}-#{j}")).message } }
    end
    results = threads.map(&:value)
    assert_equal Array.new(8) { |i| Array.new(25) { |j| "#{i}-#{j}" } }, results
  end

  def test_large_messages
    big = "\x07".b * (3 << 20)
    assert_equal big, @stub.unary(Req.new(payload: big)).payload
  end

  private

  def wait_for_seen(kind, timeout: 5)
    Timeout.timeout(timeout) do
      loop do
        s = @impl.seen.pop
        return s if s[0] == kind
      end
    end
  end
end
