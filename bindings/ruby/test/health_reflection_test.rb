# frozen_string_literal: true

require_relative "test_helper"
require "grpc"
require "grpc/health/v1/health_services_pb"
require "google/protobuf/descriptor_pb"

# RpcServer#enable_health and #enable_reflection, seen by the grpc gem's clients: its health
# stub (Check, Watch), and a reflection stream (grpc-proto's reflection.proto compiled here with
# protoc) on a GRPC::ClientStub.
class HealthReflectionTest < PolyTest
  HC = Grpc::Health::V1
  REFL_DIR = Dir.mktmpdir("polyrpc-rbrefl-")
  Minitest.after_run { FileUtils.rm_rf(REFL_DIR) }
  system("protoc", "-I/usr/share/grpc-proto", "--ruby_out=#{REFL_DIR}",
         "/usr/share/grpc-proto/grpc/reflection/v1/reflection.proto", exception: true)
  FDS = File.join(REFL_DIR, "echo.fds")
  system("protoc", "-I#{__dir__}/protos", "--descriptor_set_out=#{FDS}", "--include_imports",
         "#{__dir__}/protos/echo.proto", exception: true)
  $LOAD_PATH.unshift(REFL_DIR)
  require "grpc/reflection/v1/reflection_pb"
  RV1 = Grpc::Reflection::V1

  def start(reflection: true)
    server = nil
    _, port = start_server do_setup: lambda { |s|
      server = s
      @health = s.enable_health
      s.enable_reflection(File.binread(FDS)) if reflection
    }
    [server, port]
  end

  # start_server, with a hook before run.
  def start_server(impl = TestSupport::EchoImpl.new, do_setup:)
    server = PolyRPC::RpcServer.new(pool_size: 2, poll_period: 0.5)
    port = server.add_http2_port("127.0.0.1:0", :this_port_is_insecure)
    server.handle(impl)
    do_setup.call(server)
    t = Thread.new { server.run }
    t.report_on_exception = false
    raise "server did not start" unless server.wait_till_running(10)
    (@servers ||= []) << [server, t]
    [server, port]
  end

  def health_stub(port)
    HC::Health::Stub.new("127.0.0.1:#{port}", :this_channel_is_insecure)
  end

  def test_check_with_the_grpc_gem
    _, port = start
    stub = health_stub(port)
    assert_equal :SERVING, stub.check(HC::HealthCheckRequest.new, deadline: Time.now + 5).status
    err = assert_raises(GRPC::NotFound) do
      stub.check(HC::HealthCheckRequest.new(service: "polyrpc.rbtest.Echo"), deadline: Time.now + 5)
    end
    assert_equal GRPC::Core::StatusCodes::NOT_FOUND, err.code
    @health.set("polyrpc.rbtest.Echo", :NOT_SERVING)
    assert_equal :NOT_SERVING,
                 stub.check(HC::HealthCheckRequest.new(service: "polyrpc.rbtest.Echo")).status
    @health.set("polyrpc.rbtest.Echo", HC::HealthCheckResponse::ServingStatus::SERVING)
    assert_equal :SERVING, stub.check(HC::HealthCheckRequest.new(service: "polyrpc.rbtest.Echo")).status
    @health.clear("polyrpc.rbtest.Echo")
    assert_raises(GRPC::NotFound) { stub.check(HC::HealthCheckRequest.new(service: "polyrpc.rbtest.Echo")) }
    assert_raises(ArgumentError) { @health.set("x", :FINE) }
    assert_raises(ArgumentError) { @health.set("x", 9) }
    assert_raises(TypeError) { @health.set(:x, 1) }
  end

  def test_watch_and_stop
    server, port = start
    @health.set("svc", :SERVING)
    seen = Queue.new
    t = Thread.new do
      health_stub(port).watch(HC::HealthCheckRequest.new(service: "svc"), deadline: Time.now + 20).each do |r|
        seen << r.status
      end
      seen << :ended
    rescue GRPC::BadStatus => e
      seen << e.code
    end
    assert_equal :SERVING, Timeout.timeout(10) { seen.pop }
    @health.set("svc", :NOT_SERVING)
    assert_equal :NOT_SERVING, Timeout.timeout(10) { seen.pop }
    @health.set("svc", :SERVING)
    assert_equal :SERVING, Timeout.timeout(10) { seen.pop }
    server.stop
    assert_equal :NOT_SERVING, Timeout.timeout(10) { seen.pop }
    assert_equal GRPC::Core::StatusCodes::UNAVAILABLE, Timeout.timeout(10) { seen.pop }
    t.join(10)
  end

  def test_reflection_v1
    _, port = start
    stub = GRPC::ClientStub.new("127.0.0.1:#{port}", :this_channel_is_insecure)
    reqs = [RV1::ServerReflectionRequest.new(list_services: ""),
            RV1::ServerReflectionRequest.new(file_containing_symbol: "polyrpc.rbtest.EchoRequest"),
            RV1::ServerReflectionRequest.new(file_containing_symbol: "grpc.health.v1.Health")]
    resps = stub.bidi_streamer("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", reqs,
                               RV1::ServerReflectionRequest.method(:encode),
                               RV1::ServerReflectionResponse.method(:decode),
                               deadline: Time.now + 10).to_a
    assert_equal 3, resps.size
    names = resps[0].list_services_response.service.map(&:name)
    assert_equal ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                  "grpc.reflection.v1alpha.ServerReflection", "polyrpc.rbtest.Echo"], names
    files = resps[1].file_descriptor_response.file_descriptor_proto.map do |b|
      Google::Protobuf::FileDescriptorProto.decode(b).name
    end
    assert_equal ["echo.proto"], files
    health = Google::Protobuf::FileDescriptorProto.decode(resps[2].file_descriptor_response.file_descriptor_proto[0])
    assert_equal "grpc/health/v1/health.proto", health.name
    assert_equal %w[Check Watch], health.service[0]["method"].map(&:name)
  end

  def test_enable_checks
    server = PolyRPC::RpcServer.new(pool_size: 1)
    assert_raises(TypeError) { server.enable_reflection(42) }
    assert_raises(ArgumentError) { server.enable_reflection("not a file descriptor set".b) }
    assert_same server.enable_health, server.enable_health
  end
end
