# frozen_string_literal: true

# A Puma-style preforking master, run by fork_test.rb in a process of its own:
#   ruby fork_master.rb PORT WORKERS CALLS GEN_DIR [in_process_server]
# The master uses polyrpc (a stub, calls, a stream in flight on another thread), then forks
# WORKERS children that each make CALLS calls through the stub they inherited and through a new
# one, while the master goes on calling. With in_process_server, the master also runs a polyrpc
# server that the children call. Prints one line per result; exits 0 only if every call of
# every process succeeded and every child exited on its own.
require "polyrpc"
$LOAD_PATH.unshift(ARGV[3])
require "echo_pb"

port, workers, calls = ARGV[0].to_i, ARGV[1].to_i, ARGV[2].to_i
in_process_server = ARGV[4] == "in_process_server"
Req = Polyrpc::Rbtest::EchoRequest
Reply = Polyrpc::Rbtest::EchoReply
$stdout.sync = true

class Echo
  include PolyRPC::GenericService
  self.marshal_class_method = :encode
  self.unmarshal_class_method = :decode
  self.service_name = "polyrpc.rbtest.Echo"
  rpc :Unary, Req, Reply
  rpc :Expand, Req, stream(Reply)

  def unary(req, _call)
    Reply.new(message: "master:#{req.message}")
  end
end
Stub = Echo.rpc_stub_class

if in_process_server
  server = PolyRPC::RpcServer.new(pool_size: 4)
  port = server.add_http2_port("127.0.0.1:0", :this_port_is_insecure)
  server.handle(Echo)
  Thread.new { server.run }
  server.wait_till_running(10) or abort("server did not start")
end

def check_calls(stub, tag, n)
  n.times do |i|
    r = stub.unary(Req.new(message: "#{tag}-#{i}"), deadline: Time.now + 10)
    raise "bad reply #{r.message.inspect}" unless r.message.end_with?("#{tag}-#{i}")
  end
end

stub = Stub.new("127.0.0.1:#{port}", :this_channel_is_insecure)
check_calls(stub, "master-before", 20)
# A call in flight on another thread while the master forks.
busy = Thread.new do
  loop { stub.unary(Req.new(message: "busy", sleep_ms: 50)) }
rescue StandardError => e
  e
end
sleep 0.05

pids = Array.new(workers) do |w|
  fork do
    ok = begin
      check_calls(stub, "worker#{w}-inherited", calls)
      unless Thread.list.any? { |t| t.name == "polyrpc-park" && t.alive? }
        raise "no parked thread in the child" # the reopened channel makes one (native.rb)
      end
      fresh = Stub.new("127.0.0.1:#{port}", :this_channel_is_insecure)
      check_calls(fresh, "worker#{w}-fresh", calls)
      true
    rescue StandardError => e
      puts "worker #{w}: #{e.class}: #{e.message}"
      false
    end
    puts "worker #{w}: #{ok ? 'ok' : 'FAILED'}"
    exit(ok ? 0 : 1) # a normal exit: at_exit hooks (polyrpc's shutdown) run in the child
  end
end

master_ok = begin
  check_calls(stub, "master-during", calls)
  true
rescue StandardError => e
  puts "master: #{e.class}: #{e.message}"
  false
end

deadline = Time.now + 60
statuses = pids.map do |pid|
  loop do
    _, st = Process.waitpid2(pid, Process::WNOHANG)
    break st if st
    if Time.now > deadline
      Process.kill("KILL", pid)
      puts "worker #{pid}: hung"
      break nil
    end
    sleep 0.01
  end
end
busy.kill
busy.join
check_calls(stub, "master-after", 20) if master_ok
all = master_ok && statuses.all? { |st| st&.success? }
puts "master: #{all ? 'ok' : 'FAILED'}"
exit(all ? 0 : 1)
