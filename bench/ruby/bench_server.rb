# frozen_string_literal: true

# A Ruby TestService for bench/run, on the grpc gem or on polyrpc: the same service code for
# both (polyrpc mirrors the grpc gem's GenericService and RpcServer).
#
#   bench_server.rb --impl grpc|polyrpc --port N --gen DIR [--pool-size N]
#
# Serves UnaryCall (a response of response_size bytes) on 127.0.0.1:N (0: any free port) and
# prints the port on the first line of stdout; runs until SIGTERM or SIGINT.
require "optparse"

opts = { impl: "polyrpc", port: 0, pool: 8 }
OptionParser.new do |o|
  o.on("--impl NAME") { |v| opts[:impl] = v }
  o.on("--port N", Integer) { |v| opts[:port] = v }
  o.on("--gen DIR") { |v| opts[:gen] = v }
  o.on("--pool-size N", Integer) { |v| opts[:pool] = v }
end.parse!
abort "--gen is required" unless opts[:gen]
$LOAD_PATH.unshift(opts[:gen])
case opts[:impl]
when "grpc"
  require "grpc"
  RPC = GRPC
when "polyrpc"
  require "polyrpc"
  RPC = PolyRPC
else
  abort "--impl must be grpc or polyrpc"
end
require "grpc/testing/messages_pb"
M = Grpc::Testing

class BenchService
  include RPC::GenericService
  self.marshal_class_method = :encode
  self.unmarshal_class_method = :decode
  self.service_name = "grpc.testing.TestService"
  rpc :UnaryCall, M::SimpleRequest, M::SimpleResponse

  def initialize
    super
    @bodies = Hash.new { |h, n| h[n] = ("x" * n).freeze }
  end

  def unary_call(req, _call)
    M::SimpleResponse.new(payload: M::Payload.new(body: @bodies[req.response_size]))
  end
end

server = RPC::RpcServer.new(pool_size: opts[:pool])
port = server.add_http2_port("127.0.0.1:#{opts[:port]}", :this_port_is_insecure)
server.handle(BenchService)
$stdout.puts port
$stdout.flush
server.run_till_terminated_or_interrupted(%w[INT TERM])
