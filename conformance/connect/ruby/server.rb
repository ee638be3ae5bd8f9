# frozen_string_literal: true

# The connectrpc conformance suite's server under test for the polyrpc Ruby gem.
#
# Reads one length-prefixed connectrpc.conformance.v1.ServerCompatRequest on stdin, starts a
# PolyRPC::RpcServer as it asks (TLS with the runner's certificate, client certificates required
# when it gives one, a receive limit), writes a ServerCompatResponse with its address to stdout,
# and serves ConformanceService through the generated service (service_services_pb.rb,
# protoc-gen-polyrpc lang=ruby) until SIGTERM. Each method behaves as the suite's
# docs/testing_servers.md and its grpc-go server describe, as conformance/connect/python/server.py
# does; error details travel in grpc-status-details-bin (a google.rpc.Status).
#
# The generated messages and services come from BUILD/conformance/connect/ruby-gen (target
# polyrpc_connect_ruby_protos), or POLYRPC_CONNECT_RUBY_GEN.
#
# Usage: ruby server.rb [--bind=ADDRESS]   (default 127.0.0.1; never every interface unless asked)
require "base64"
require "polyrpc"
require "google/protobuf/well_known_types"

ROOT = File.expand_path("../../..", __dir__)
BUILD = ENV.fetch("POLYRPC_BUILD_DIR", File.join(ROOT, "build"))
GEN = ENV.fetch("POLYRPC_CONNECT_RUBY_GEN", File.join(BUILD, "conformance", "connect", "ruby-gen"))
unless File.exist?(File.join(GEN, "connectrpc", "conformance", "v1", "service_services_pb.rb"))
  abort "server.rb: no generated code in #{GEN} (cmake --build BUILD --target polyrpc_connect_ruby_protos)"
end
$LOAD_PATH.unshift(GEN)
require "connectrpc/conformance/v1/service_services_pb"
require "connectrpc/conformance/v1/server_compat_pb"
require "polyrpc_connect/rpc_status_pb"

V1 = Connectrpc::Conformance::V1
STATUS_DETAILS_KEY = "grpc-status-details-bin"

def read_delimited(io)
  prefix = io.read(4)
  return nil if prefix.nil? || prefix.bytesize < 4
  n = prefix.unpack1("N")
  data = io.read(n)
  data && data.bytesize == n ? data : nil
end

def write_delimited(io, data)
  io.write([data.bytesize].pack("N") + data)
  io.flush
end

def decode_bin(value)
  v = value.tr("-_", "+/")
  Base64.strict_decode64(v + "=" * (-v.length % 4))
rescue ArgumentError
  value
end

# The suite's headers as metadata: names lowercased, -bin values decoded, repeats as Arrays.
def to_metadata(headers)
  md = {}
  headers.each do |h|
    name = h.name.downcase
    values = h.value.map { |v| name.end_with?("-bin") ? decode_bin(v) : v }
    next if values.empty?
    md[name] = md.key?(name) ? Array(md[name]) + values : (values.size == 1 ? values[0] : values)
  end
  md
end

def as_any(message)
  Google::Protobuf::Any.pack(message)
end

def request_info(call, requests)
  info = V1::ConformancePayload::RequestInfo.new
  call.metadata.each do |name, value|
    values = Array(value).map do |v|
      name.end_with?("-bin") ? Base64.strict_encode64(v.b).delete("=") : v.to_s
    end
    info.request_headers << V1::Header.new(name: name, value: values)
  end
  unless call.deadline.equal?(PolyRPC::Core::TimeConsts::INFINITE_FUTURE)
    info.timeout_ms = [((call.deadline - Time.now) * 1000).to_i, 0].max
  end
  requests.each { |r| info.requests << r }
  info
end

def sleep_ms(ms)
  sleep(ms / 1000.0) if ms.positive?
end

class ConformanceServiceImpl < V1::ConformanceService::Service
  def unary(request, call)
    definition = request.response_definition
    trailers = {}
    if definition
      trailers = start(call, definition, true)
      sleep_ms(definition.response_delay_ms)
    end
    V1::UnaryResponse.new(payload: unary_result(call, definition, [as_any(request)], trailers))
  end

  def client_stream(call)
    requests = []
    definition = nil
    call.each_remote_read.each do |request|
      definition = request.response_definition if requests.empty? && request.response_definition
      requests << as_any(request)
    end
    trailers = {}
    if definition
      trailers = start(call, definition, true)
      sleep_ms(definition.response_delay_ms)
    end
    V1::ClientStreamResponse.new(payload: unary_result(call, definition, requests, trailers))
  end

  def server_stream(request, call)
    definition = request.response_definition
    return [] unless definition
    requests = [as_any(request)]
    trailers = start(call, definition, true)
    Enumerator.new do |y|
      sent = 0
      definition.response_data.each do |data|
        payload = V1::ConformancePayload.new(data: data)
        payload.request_info = request_info(call, requests) if sent.zero?
        sleep_ms(definition.response_delay_ms)
        y << V1::ServerStreamResponse.new(payload: payload)
        sent += 1
      end
      stream_end(call, definition, sent, requests, trailers)
    end
  end

  def bidi_stream(requests_in, call)
    Enumerator.new do |y|
      requests = [] # since the last response (full duplex), or all of them (half duplex)
      definition = nil
      trailers = {}
      pending_headers = nil
      full_duplex = false
      first = true
      sent = 0
      requests_in.each do |request|
        requests << as_any(request)
        if first
          first = false
          full_duplex = request.full_duplex
          if request.response_definition
            definition = request.response_definition
            trailers = to_metadata(definition.response_trailers)
            headers = to_metadata(definition.response_headers)
            # As grpc-go's server: full duplex sends the headers at once; half duplex later.
            full_duplex ? call.send_initial_metadata(headers) : pending_headers = headers
          end
        end
        next unless full_duplex
        break if definition.nil? || sent >= definition.response_data.size

        payload = V1::ConformancePayload.new(data: definition.response_data[sent])
        if sent.zero?
          payload.request_info = request_info(call, requests)
        else
          info = V1::ConformancePayload::RequestInfo.new
          requests.each { |r| info.requests << r }
          payload.request_info = info
        end
        sleep_ms(definition.response_delay_ms)
        y << V1::BidiStreamResponse.new(payload: payload)
        sent += 1
        requests = []
      end
      if definition
        call.send_initial_metadata(pending_headers) if pending_headers
        trailers.each { |k, v| call.output_metadata[k] = v }
        while sent < definition.response_data.size
          payload = V1::ConformancePayload.new(data: definition.response_data[sent])
          payload.request_info = request_info(call, requests) if sent.zero?
          sleep_ms(definition.response_delay_ms)
          y << V1::BidiStreamResponse.new(payload: payload)
          sent += 1
        end
        stream_end(call, definition, sent, requests, trailers)
      end
    end
  end

  # unimplemented and idempotent_unary (a Connect GET method) are left to the generated
  # service, which answers UNIMPLEMENTED.

  private

  # Sends the headers now and sets the trailers; returns the trailers.
  def start(call, definition, send_now)
    trailers = to_metadata(definition.response_trailers)
    trailers.each { |k, v| call.output_metadata[k] = v }
    headers = to_metadata(definition.response_headers)
    call.send_initial_metadata(headers) if send_now
    trailers
  end

  def unary_result(call, definition, requests, trailers)
    info = request_info(call, requests)
    if definition&.error
      error = V1::Error.new(code: definition.error.code, message: definition.error.message)
      definition.error.details.each { |d| error.details << d }
      error.details << as_any(info)
      abort_with(error, trailers)
    end
    payload = V1::ConformancePayload.new(request_info: info)
    payload.data = definition.response_data if definition
    payload
  end

  def stream_end(call, definition, sent, requests, trailers)
    return unless definition.error
    error = V1::Error.new(code: definition.error.code, message: definition.error.message)
    definition.error.details.each { |d| error.details << d }
    error.details << as_any(request_info(call, requests)) if sent.zero?
    abort_with(error, trailers)
  end

  def abort_with(error, trailers)
    # The suite's Code has gRPC's numbers; protobuf hands the enum over as a Symbol.
    code = error.code.is_a?(Symbol) ? V1::Code.resolve(error.code) : error.code
    status = Polyrpc::Connect::RpcStatus.new(code: code, message: error.message)
    error.details.each { |d| status.details << d }
    md = trailers.merge(STATUS_DETAILS_KEY => Polyrpc::Connect::RpcStatus.encode(status))
    raise PolyRPC::BadStatus.new_status_exception(code, error.message, md)
  end
end

bind = "127.0.0.1"
ARGV.each do |arg|
  m = /\A--bind=(.+)\z/.match(arg) or abort("server.rb: unknown argument #{arg} (usage: server.rb [--bind=ADDRESS])")
  bind = m[1]
end

data = read_delimited($stdin.binmode)
abort "server.rb: no ServerCompatRequest on stdin" if data.nil?
req = V1::ServerCompatRequest.decode(data)
if req.protocol != :PROTOCOL_GRPC || req.http_version != :HTTP_VERSION_2
  abort "server.rb: only gRPC over HTTP/2"
end

args = {}
args["grpc.max_receive_message_length"] = req.message_receive_limit if req.message_receive_limit.positive?
server = PolyRPC::RpcServer.new(pool_size: 64, poll_period: 1, server_args: args)
server.handle(ConformanceServiceImpl)
host = bind.include?(":") ? "[#{bind}]" : bind
creds = if req.use_tls
          client_ca = req.client_tls_cert.empty? ? nil : req.client_tls_cert
          PolyRPC::Core::ServerCredentials.new(
            client_ca, [{ private_key: req.server_creds.key, cert_chain: req.server_creds.cert }],
            !client_ca.nil?
          )
        else
          :this_port_is_insecure
        end
port = server.add_http2_port("#{host}:0", creds)
resp = V1::ServerCompatResponse.new(host: { "0.0.0.0" => "127.0.0.1", "::" => "::1" }.fetch(bind, bind),
                                    port: port)
resp.pem_cert = req.server_creds.cert if req.use_tls
server_thread = Thread.new { server.run_till_terminated_or_interrupted(%w[INT TERM]) }
server.wait_till_running(30)
write_delimited($stdout.binmode, V1::ServerCompatResponse.encode(resp))
warn "polyrpc-ruby connect server on #{resp.host}:#{port} (tls=#{req.use_tls})"
server_thread.join
