# frozen_string_literal: true

# Shared by the tests: the installed polyrpc gem (scripts/install-ruby.sh; the tests never load
# the source tree's lib/), the test service compiled from test/protos with protoc, and servers on
# 127.0.0.1 that each test starts and stops itself.
require "minitest/autorun"
require "tmpdir"
require "timeout"
require "socket"
require "polyrpc"
require "google/protobuf"

module TestSupport
  ROOT = File.expand_path("../../..", __dir__)

  # The gem under test is the installed one (POLYRPC_EXPECT_GEM_DIR: where it must come from).
  if (want = ENV["POLYRPC_EXPECT_GEM_DIR"])
    got = Gem.loaded_specs["polyrpc"]&.full_gem_path.to_s
    abort "polyrpc loaded from #{got.inspect}, expected under #{want}" unless got.start_with?(want)
  end

  GEN_DIR = Dir.mktmpdir("polyrpc-rbtest-")
  Minitest.after_run { FileUtils.rm_rf(GEN_DIR) }
  system("protoc", "-I#{__dir__}/protos", "--ruby_out=#{GEN_DIR}", "#{__dir__}/protos/echo.proto",
         exception: true)
  $LOAD_PATH.unshift(GEN_DIR)
  require "echo_pb"

  Req = Polyrpc::Rbtest::EchoRequest
  Reply = Polyrpc::Rbtest::EchoReply

  # The test service, declared with the DSL as generated code does.
  class EchoService
    include PolyRPC::GenericService
    self.marshal_class_method = :encode
    self.unmarshal_class_method = :decode
    self.service_name = "polyrpc.rbtest.Echo"
    rpc :Unary, Req, Reply
    rpc :Collect, stream(Req), Reply
    rpc :Expand, Req, stream(Reply)
    rpc :Chat, stream(Req), stream(Reply)
  end
  EchoStub = EchoService.rpc_stub_class

  # An implementation that records what it saw (for the tests to check from the outside).
  class EchoImpl < EchoService
    attr_reader :seen

    def initialize
      super
      @seen = Queue.new
    end

    def unary(req, call)
      @seen << [:unary, call.metadata, call.deadline, call.time_remaining]
      wait(req, call)
      raise PolyRPC::BadStatus.new_status_exception(req.code, "asked for #{req.code}", "why" => "asked") if req.code != 0
      call.output_metadata["trailer-x"] = "t1"
      msg = req.echo_metadata.empty? ? req.message : call.metadata[req.echo_metadata].inspect
      Reply.new(message: msg, payload: req.payload)
    end

    def collect(call)
      msgs = call.each_remote_read.map(&:message)
      @seen << [:collect, msgs]
      Reply.new(message: msgs.join(","), index: msgs.size)
    end

    def expand(req, call)
      wait(req, call)
      raise PolyRPC::BadStatus.new_status_exception(req.code, "after #{req.repeat}") if req.code != 0 && req.repeat.zero?
      replies = Array.new(req.repeat) { |i| Reply.new(message: req.message, index: i) }
      return replies if req.code.zero?
      Enumerator.new do |y|
        replies.each { |r| y << r }
        raise PolyRPC::BadStatus.new_status_exception(req.code, "after #{req.repeat}")
      end
    end

    def chat(requests, call)
      Enumerator.new do |y|
        requests.each_with_index do |r, i|
          wait(r, call)
          raise PolyRPC::BadStatus.new_status_exception(r.code, "chat #{i}") if r.code != 0
          y << Reply.new(message: r.message, index: i)
        end
      end
    end

    private

    # Sleeps sleep_ms, or until the call is cancelled (then records it).
    def wait(req, call)
      return if req.sleep_ms.zero?
      deadline = Time.now + req.sleep_ms / 1000.0
      while Time.now < deadline
        if call.cancelled?
          @seen << [:cancelled, req.message]
          return
        end
        sleep 0.005
      end
    end
  end

  def cert_dir
    @cert_dir ||= begin
      dir = ENV["POLYRPC_CERT_DIR"]
      if dir.nil? || !File.exist?(File.join(dir, "ca.pem"))
        dir = File.join(GEN_DIR, "certs")
        unless File.exist?(File.join(dir, "ca.pem"))
          system("bash", "#{ROOT}/tools/gen-test-certs.sh", dir, out: File::NULL, exception: true)
        end
      end
      dir
    end
  end

  def pem(name)
    File.read(File.join(cert_dir, name))
  end

  # Starts server (made by the block, or an RpcServer for impl) on 127.0.0.1:0; stopped in
  # teardown. Returns [server, port].
  def start_server(impl = EchoImpl.new, creds: :this_port_is_insecure, **opts)
    server = PolyRPC::RpcServer.new(pool_size: opts.delete(:pool_size) || 4, poll_period: 0.5, **opts)
    port = server.add_http2_port("127.0.0.1:0", creds)
    server.handle(impl)
    t = Thread.new { server.run }
    t.report_on_exception = false
    raise "server did not start" unless server.wait_till_running(10)
    (@servers ||= []) << [server, t]
    [server, port]
  end

  def stub_for(port, creds = :this_channel_is_insecure, **kw)
    EchoStub.new("127.0.0.1:#{port}", creds, **kw)
  end

  def teardown
    (@servers || []).each do |server, t|
      server.stop if server.running?
      t.join(10) or flunk("server thread did not end")
    end
    @servers = []
    super
  end

  # Runs the block in a thread and returns [thread, queue of its result or error].
  def in_thread
    q = Queue.new
    t = Thread.new do
      q << [:ok, yield]
    rescue Exception => e # rubocop:disable Lint/RescueException
      q << [:error, e]
      raise
    end
    t.report_on_exception = false
    [t, q]
  end

  def assert_raises_status(klass, code = nil)
    e = assert_raises(klass) { yield }
    assert_equal(code, e.code) if code
    e
  end
end

class PolyTest < Minitest::Test
  include TestSupport
  make_my_diffs_pretty!
end
