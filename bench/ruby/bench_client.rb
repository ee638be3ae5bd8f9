# frozen_string_literal: true

# Ruby unary client loops for bench/run, on the grpc gem or on polyrpc (the same code: polyrpc
# mirrors the grpc gem's API).
#
#   bench_client.rb --impl grpc|polyrpc --threads 4 --target HOST:PORT --gen DIR
#                   [--duration S] [--warmup S] [--req-size N] [--resp-size N]
#                   [--busy-poll-us N]   (polyrpc: the channel option polyrpc.busy_poll_us)
#
# N threads share one stub (one channel), each making blocking unary calls. DIR holds
# grpc/testing/messages_pb.rb (protoc -I/usr/share/grpc-proto --ruby_out). Prints one JSON line like
# the C++ client loops: {"ops":..,"rate":..,"p50_us":..,"p99_us":..,"errors":..}.
require "json"
require "optparse"

opts = { impl: "polyrpc", threads: 1, duration: 2.0, warmup: 0.5, req_size: 100, resp_size: 100 }
OptionParser.new do |o|
  o.on("--impl NAME") { |v| opts[:impl] = v }
  o.on("--threads N", Integer) { |v| opts[:threads] = v }
  o.on("--target T") { |v| opts[:target] = v }
  o.on("--gen DIR") { |v| opts[:gen] = v }
  o.on("--duration S", Float) { |v| opts[:duration] = v }
  o.on("--warmup S", Float) { |v| opts[:warmup] = v }
  o.on("--req-size N", Integer) { |v| opts[:req_size] = v }
  o.on("--resp-size N", Integer) { |v| opts[:resp_size] = v }
  o.on("--busy-poll-us N", Integer) { |v| opts[:busy_poll_us] = v }
end.parse!
abort "--target and --gen are required" unless opts[:target] && opts[:gen]
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

METHOD = "/grpc.testing.TestService/UnaryCall"
M = Grpc::Testing
args = opts[:busy_poll_us] ? { "polyrpc.busy_poll_us" => opts[:busy_poll_us] } : {}
stub = RPC::ClientStub.new(opts[:target], :this_channel_is_insecure, channel_args: args)
marshal = M::SimpleRequest.method(:encode)
unmarshal = M::SimpleResponse.method(:decode)
req = M::SimpleRequest.new(response_size: opts[:resp_size], payload: M::Payload.new(body: "x" * opts[:req_size]))
stub.request_response(METHOD, req, marshal, unmarshal, deadline: Time.now + 10) # connected

state = { measuring: false, stop: false }
results = Queue.new
workers = Array.new(opts[:threads]) do
  Thread.new do
    lat = []
    ops = errors = 0
    until state[:stop]
      measuring = state[:measuring]
      t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      ok = begin
        stub.request_response(METHOD, req, marshal, unmarshal).payload.body.bytesize == opts[:resp_size]
      rescue RPC::BadStatus
        false
      end
      next unless measuring
      if ok
        lat << Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
        ops += 1
      else
        errors += 1
        break if errors > 100
      end
    end
    results << [lat, ops, errors]
  end
end
sleep opts[:warmup]
state[:measuring] = true
t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
sleep opts[:duration]
state[:measuring] = false
secs = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
state[:stop] = true
workers.each(&:join)
lat = []
ops = errors = 0
opts[:threads].times do
  l, o, e = results.pop
  lat.concat(l)
  ops += o
  errors += e
end
lat.sort!
pct = ->(p) { lat.empty? ? 0.0 : lat[[lat.size - 1, (p * lat.size).to_i].min] }
puts JSON.generate(ops: ops, secs: secs.round(4), rate: (ops / secs).round(1),
                   p50_us: (pct.call(0.5) * 1e6).round(1), p99_us: (pct.call(0.99) * 1e6).round(1),
                   errors: errors)
exit(errors.zero? && ops.positive? ? 0 : 1)
