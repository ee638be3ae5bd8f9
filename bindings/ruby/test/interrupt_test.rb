# frozen_string_literal: true

require_relative "test_helper"
require "rbconfig"
require "open3"

# Waits release the GVL, and an interrupt ends them at once and cancels the call on the wire:
# Thread#raise, Thread#kill, and Ctrl-C (SIGINT) in a process of its own.
class InterruptTest < PolyTest
  LIMIT = 0.1 # seconds from the interrupt to the end of the wait

  def setup
    @impl = TestSupport::EchoImpl.new
    _, @port = start_server(@impl)
    @stub = stub_for(@port)
  end

  def test_other_threads_run_while_a_call_waits
    counter = 0
    spinning = true
    spinner = Thread.new { (counter += 1; Thread.pass) while spinning }
    caller = Thread.new { @stub.unary(Req.new(message: "w", sleep_ms: 400)) }
    sleep 0.1
    before = counter
    sleep 0.2
    during = counter - before
    assert caller.alive?, "the call is still waiting"
    assert_equal "w", caller.value.message
    spinning = false
    spinner.join
    # Pure Ruby work in the other thread: a wait that held the GVL would let it run only at
    # the VM's 100 ms time slices; without it, it spins the whole time.
    assert_operator during, :>, 10_000, "another thread made too little progress (#{during})"
  end

  def test_thread_raise_ends_a_unary_call_and_cancels_it
    t = Thread.new { @stub.unary(Req.new(message: "raise-me", sleep_ms: 5000)) }
    t.report_on_exception = false
    sleep 0.3
    t0 = now
    t.raise(IOError, "stop now")
    err = assert_raises(IOError) { t.join }
    assert_equal "stop now", err.message
    assert_operator now - t0, :<, LIMIT
    assert_server_saw_cancel("raise-me")
  end

  def test_thread_kill_ends_a_unary_call_and_cancels_it
    t = Thread.new { @stub.unary(Req.new(message: "kill-me", sleep_ms: 5000)) }
    sleep 0.3
    t0 = now
    t.kill
    assert t.join(1), "the killed thread ended"
    assert_operator now - t0, :<, LIMIT
    assert_server_saw_cancel("kill-me")
  end

  def test_timeout_timeout_ends_a_call
    t0 = now
    assert_raises(Timeout::Error) do
      Timeout.timeout(0.3) { @stub.unary(Req.new(message: "timeout", sleep_ms: 5000)) }
    end
    assert_operator now - t0, :<, 0.3 + LIMIT
    assert_server_saw_cancel("timeout")
  end

  def test_thread_raise_ends_a_stream_read
    t = Thread.new { @stub.chat([Req.new(message: "first"), Req.new(message: "stream", sleep_ms: 5000)]).to_a }
    t.report_on_exception = false
    sleep 0.3
    t0 = now
    t.raise(IOError, "stream stop")
    assert_raises(IOError) { t.join }
    assert_operator now - t0, :<, LIMIT
    assert_server_saw_cancel("stream")
  end

  def test_thread_raise_ends_a_client_stream_write
    # A client stream the server never reads: writes stop once flow control is exhausted.
    svc = Class.new(TestSupport::EchoService) do
      def collect(_call)
        sleep 5
        Reply.new
      end
    end
    _, port = start_server(svc.new)
    big = Req.new(payload: "x" * 65_536)
    t = Thread.new { stub_for(port).collect(Enumerator.new { |y| loop { y << big } }) }
    t.report_on_exception = false
    sleep 0.5
    assert t.alive?
    t0 = now
    t.raise(IOError, "writer stop")
    assert_raises(IOError) { t.join }
    assert_operator now - t0, :<, LIMIT
  end

  def test_ctrl_c_interrupts_a_blocked_call
    script = <<~RUBY
      require "polyrpc"
      $LOAD_PATH.unshift(ARGV[1])
      require "echo_pb"
      stub = PolyRPC::ClientStub.new("127.0.0.1:\#{ARGV[0]}", :this_channel_is_insecure)
      $stdout.sync = true
      puts "calling"
      begin
        stub.request_response("/polyrpc.rbtest.Echo/Unary",
                              Polyrpc::Rbtest::EchoRequest.new(message: "ctrl-c", sleep_ms: 8000),
                              Polyrpc::Rbtest::EchoRequest.method(:encode),
                              Polyrpc::Rbtest::EchoReply.method(:decode))
        puts "returned"
      rescue Interrupt
        puts "interrupted"
      end
    RUBY
    Open3.popen2(RbConfig.ruby, "-e", script, @port.to_s, TestSupport::GEN_DIR) do |stdin, stdout, wait|
      stdin.close
      assert_equal "calling", stdout.gets&.chomp
      sleep 0.5 # the call is under way: the server sleeps
      t0 = now
      Process.kill("INT", wait.pid)
      line = Timeout.timeout(5) { stdout.gets&.chomp }
      elapsed = now - t0
      assert_equal "interrupted", line
      assert_operator elapsed, :<, LIMIT
      assert wait.value.success?
    end
    assert_server_saw_cancel("ctrl-c")
  end

  def test_server_queue_wait_is_interruptible
    cq = PolyRPC::Native.polyrpc_cq_create
    t = Thread.new { PolyRPC::Native.cq_next_nogvl(cq, -1) }
    t.report_on_exception = false
    sleep 0.1
    t0 = now
    t.raise(IOError, "wake")
    assert_raises(IOError) { t.join }
    assert_operator now - t0, :<, LIMIT
  ensure
    PolyRPC::Native.polyrpc_cq_destroy(cq)
  end

  private

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  def assert_server_saw_cancel(message)
    Timeout.timeout(5) do
      loop do
        s = @impl.seen.pop
        return if s == [:cancelled, message]
      end
    end
  rescue Timeout::Error
    flunk "the server did not see #{message} cancelled"
  end
end
