# frozen_string_literal: true

# grpc.testing.TestService interop server on the polyrpc gem, written as a grpc gem user writes
# one: the generated TestService::Service, a PolyRPC::RpcServer.
#
#   ruby conformance/ruby/interop_server.rb --port=N [--use_tls=true] [--cert_dir=DIR]
#       [--bind=ADDRESS] [--server_id=ID]
#
# Listens on 127.0.0.1 unless --bind names another address ("::" or "0.0.0.0": every interface).
# Answers fill_server_id with server_id and the machine's hostname, as grpc-go's interop server
# does (its pick_first_unary case needs them).
#
# Behaviour follows gRPC's interop-test-descriptions.md (including the expect_compressed checks,
# which polyrpc can make because it reports whether each request arrived compressed) plus
# polyrpc's hooks: x-polyrpc-echo-deadline (trailer x-polyrpc-time-remaining-ms) and
# x-polyrpc-close-connection (drop the TCP connection after the first streamed response).
require "socket"

require_relative "interop_common"

ECHO_INITIAL_KEY = "x-grpc-test-echo-initial"
ECHO_TRAILING_KEY = "x-grpc-test-echo-trailing-bin"
ECHO_DEADLINE_KEY = "x-polyrpc-echo-deadline"
TIME_REMAINING_KEY = "x-polyrpc-time-remaining-ms"
CLOSE_CONNECTION_KEY = "x-polyrpc-close-connection"

SERVER_ID = ["polyrpc-ruby"] # --server_id, for fill_server_id

class TestServiceImpl < Grpc::Testing::TestService::Service
  T = Grpc::Testing

  def empty_call(_req, call)
    start_call(call)
    T::Empty.new
  end

  def unary_call(req, call)
    check_compressed(req, call)
    call.set_compression(req.response_compressed.value ? "gzip" : "identity") if req.response_compressed
    start_call(call)
    maybe_fail(req)
    resp = T::SimpleResponse.new(payload: payload(req.response_size))
    if req.fill_server_id
      resp.server_id = SERVER_ID[0]
      resp.hostname = Socket.gethostname
    end
    resp
  end
  alias cacheable_unary_call unary_call

  def streaming_output_call(req, call)
    params = req.response_parameters.to_a
    any_compressed = params.any? { |p| p.compressed&.value }
    call.set_compression("gzip") if any_compressed
    close = start_call(call)
    Enumerator.new do |y|
      params.each_with_index do |p, i|
        break if p.interval_us.positive? && !sleep_us(p.interval_us, call)
        call.write_flag = any_compressed && !p.compressed&.value ? PolyRPC::Core::WriteFlags::NO_COMPRESS : 0
        y << T::StreamingOutputCallResponse.new(payload: payload(p.size))
        if close && i.zero?
          call.close_connection_for_testing
          break
        end
      end
      maybe_fail(req)
    end
  end

  def streaming_input_call(call)
    start_call(call)
    total = 0
    call.each_remote_read do |req|
      check_compressed(req, call)
      total += req.payload.body.bytesize
    end
    T::StreamingInputCallResponse.new(aggregated_payload_size: total)
  end

  def full_duplex_call(requests, call)
    start_call(call)
    Enumerator.new do |y|
      catch(:call_gone) do
        requests.each do |req|
          maybe_fail(req)
          req.response_parameters.each do |p|
            throw :call_gone if p.interval_us.positive? && !sleep_us(p.interval_us, call)
            y << T::StreamingOutputCallResponse.new(payload: payload(p.size))
          end
        end
      end
    end
  end

  def half_duplex_call(requests, call)
    start_call(call)
    all = requests.to_a
    all.each { |req| maybe_fail(req) }
    all.flat_map do |req|
      req.response_parameters.map { |p| T::StreamingOutputCallResponse.new(payload: payload(p.size)) }
    end
  end

  private

  def payload(size)
    T::Payload.new(type: :COMPRESSABLE, body: Interop.zeros(size))
  end

  # Echoes request metadata as the interop doc asks; true if the close-connection hook was asked.
  def start_call(call)
    md = call.metadata
    initial = md[ECHO_INITIAL_KEY]
    trailing = md[ECHO_TRAILING_KEY]
    call.output_metadata[ECHO_TRAILING_KEY] = trailing if trailing
    if md[ECHO_DEADLINE_KEY] == "1"
      # Monotonic: call.deadline - Time.now moves with the wall clock.
      seconds = call.time_remaining
      left = seconds ? (seconds * 1000).to_i : -1
      call.output_metadata[TIME_REMAINING_KEY] = left.to_s
    end
    call.send_initial_metadata(ECHO_INITIAL_KEY => initial) if initial
    md[CLOSE_CONNECTION_KEY] == "1"
  end

  def maybe_fail(req)
    st = req.response_status
    return if st.nil? || st.code.zero?
    raise PolyRPC::BadStatus.new_status_exception(st.code, st.message)
  end

  def check_compressed(req, call)
    return unless req.expect_compressed&.value
    return if call.last_request_compressed?
    raise PolyRPC::InvalidArgument.new("expected a compressed request")
  end

  # Sleeps unless the call ends first; false when it is gone.
  def sleep_us(interval_us, call)
    deadline = Time.now + interval_us / 1e6
    until call.cancelled?
      left = deadline - Time.now
      return true if left <= 0
      sleep [left, 0.02].min
    end
    false
  end
end

flags = Interop.parse_flags(ARGV, port: 0, use_tls: false, cert_dir: Interop.default_cert_dir,
                                  bind: "127.0.0.1", server_id: SERVER_ID[0])
SERVER_ID[0] = flags[:server_id]
address = "#{flags[:bind].include?(":") ? "[#{flags[:bind]}]" : flags[:bind]}:#{flags[:port]}"
if flags[:port] <= 0
  warn "--port=N is required"
  exit 2
end
# Enough handler threads that every call of the concurrent_streams case runs at once.
server = PolyRPC::RpcServer.new(pool_size: 120, poll_period: 1)
creds = if flags[:use_tls]
          PolyRPC::Core::ServerCredentials.new(
            nil, [{ private_key: Interop.read_cert(flags[:cert_dir], "server.key"),
                    cert_chain: Interop.read_cert(flags[:cert_dir], "server.pem") }]
          )
        else
          :this_port_is_insecure
        end
begin
  server.add_http2_port(address, creds)
rescue RuntimeError => e
  warn e.message
  exit 1
end
server.handle(TestServiceImpl)
warn "polyrpc-ruby interop server listening on #{address} (tls=#{flags[:use_tls]})"
server.run_till_terminated_or_interrupted(%w[INT TERM])
