# frozen_string_literal: true

# grpc.testing.TestService interop client on the polyrpc gem, written as a grpc gem user
# writes one: the generated TestService::Stub, return_op operations, Enumerables in and
# Enumerators out. The two cases the grpc gem's API cannot express (one message compressed
# and the next not is done through Operation#write_flag; an arbitrary grpc-encoding label)
# use the gem's native layer and its conformance hook.
#
#   ruby conformance/ruby/interop_client.rb --server_host=H --server_port=N --test_case=NAME
#        [--use_tls=true --use_test_ca=true --server_host_override=foo.test.google.fr]
#        [--cert_dir=DIR]
#
# Exit status: 0 the case passed; 1 it failed (one line on stderr says why); 2 the case is not
# supported by this client.
require_relative "interop_common"

T = Grpc::Testing
TIMEOUT = 20 # seconds: bounds every call, so a broken peer fails the case instead of hanging
ECHO_INITIAL_KEY = "x-grpc-test-echo-initial"
ECHO_TRAILING_KEY = "x-grpc-test-echo-trailing-bin"
COMPRESS = { "grpc-internal-encoding-request" => "gzip" }.freeze

class CaseFailed < StandardError; end

def check(cond, msg)
  raise CaseFailed, msg unless cond
end

def deadline(secs = TIMEOUT)
  Time.now + secs
end

def zeros(n)
  Interop.zeros(n)
end

def expect_payload(payload, size, what)
  check(payload.type == :COMPRESSABLE, "#{what}: payload type #{payload.type}")
  check(payload.body.bytesize == size, "#{what}: payload size #{payload.body.bytesize}, want #{size}")
  check(payload.body == zeros(size), "#{what}: payload is not all zero bytes")
end

def expect_status(klass, what)
  yield
  raise CaseFailed, "#{what}: succeeded, expected #{klass.name.split('::').last}"
rescue PolyRPC::BadStatus => e
  check(e.is_a?(klass), "#{what}: expected #{klass.name.split('::').last}, got #{e.class.name.split('::').last} (#{e.details})")
  e
end

# Requests the test feeds one at a time; close ends the stream (half-close).
class RequestQueue
  END_MARK = Object.new.freeze

  def initialize
    @q = Queue.new
  end

  def add(req)
    @q << req
  end

  def close
    @q << END_MARK
  end

  def each
    while (r = @q.pop) != END_MARK
      yield r
    end
  end
end

def next_response(replies, what)
  replies.next
rescue StopIteration
  raise CaseFailed, "#{what}: stream ended early"
end

def expect_end(replies, what)
  replies.next
  raise CaseFailed, "#{what}: unexpected extra response"
rescue StopIteration
  nil
rescue PolyRPC::BadStatus => e
  raise CaseFailed, "#{what}: ended with #{e.code} (#{e.details})"
end

def large_request(**kw)
  T::SimpleRequest.new(response_type: :COMPRESSABLE, response_size: 314_159,
                       payload: T::Payload.new(body: zeros(271_828)), **kw)
end

def streaming_request(response_size, payload_size, **kw)
  T::StreamingOutputCallRequest.new(response_type: :COMPRESSABLE,
                                    response_parameters: [T::ResponseParameters.new(size: response_size)],
                                    payload: T::Payload.new(body: zeros(payload_size)), **kw)
end

class Cases
  PING_PONG = [[31_415, 27_182], [9, 8], [2653, 1828], [58_979, 45_904]].freeze

  def initialize(flags)
    @flags = flags
    @stub = new_stub
  end

  def new_stub(channel_args = {}, service: T::TestService)
    args = channel_args.dup
    override = @flags[:server_host_override]
    args["grpc.default_authority"] = override unless override.empty?
    target = "#{@flags[:server_host]}:#{@flags[:server_port]}"
    return service::Stub.new(target, :this_channel_is_insecure, channel_args: args) unless @flags[:use_tls]
    args["grpc.ssl_target_name_override"] = override unless override.empty?
    root = @flags[:use_test_ca] ? Interop.read_cert(@flags[:cert_dir], "ca.pem") : nil
    service::Stub.new(target, PolyRPC::Core::ChannelCredentials.new(root), channel_args: args)
  end

  # ---- gRPC's cases (doc/interop-test-descriptions.md) ----

  def empty_unary
    r = @stub.empty_call(T::Empty.new, deadline: deadline)
    check(r.is_a?(T::Empty), "response is not an Empty")
    check(T::Empty.encode(r).empty?, "response is not empty")
  end

  def large_unary
    expect_payload(@stub.unary_call(large_request, deadline: deadline).payload, 314_159, "UnaryCall")
  end

  def client_streaming
    reqs = [27_182, 8, 1828, 45_904].map { |n| T::StreamingInputCallRequest.new(payload: T::Payload.new(body: zeros(n))) }
    r = @stub.streaming_input_call(reqs, deadline: deadline)
    check(r.aggregated_payload_size == 74_922, "aggregated_payload_size #{r.aggregated_payload_size}")
  end

  def server_streaming
    sizes = [31_415, 9, 2653, 58_979]
    req = T::StreamingOutputCallRequest.new(response_type: :COMPRESSABLE,
                                            response_parameters: sizes.map { |n| T::ResponseParameters.new(size: n) })
    replies = @stub.streaming_output_call(req, deadline: deadline).to_a
    check(replies.size == sizes.size, "got #{replies.size} responses")
    replies.zip(sizes).each_with_index { |(r, n), i| expect_payload(r.payload, n, "response #{i}") }
  end

  def ping_pong
    q = RequestQueue.new
    replies = @stub.full_duplex_call(q.to_enum(:each), deadline: deadline)
    PING_PONG.each_with_index do |(resp, pay), i|
      q.add(streaming_request(resp, pay))
      expect_payload(next_response(replies, "round #{i}").payload, resp, "round #{i}")
    end
    q.close
    expect_end(replies, "FullDuplexCall")
  end

  def empty_stream
    q = RequestQueue.new
    replies = @stub.full_duplex_call(q.to_enum(:each), deadline: deadline)
    q.close
    expect_end(replies, "FullDuplexCall")
  end

  def cancel_after_begin
    q = RequestQueue.new
    op = @stub.streaming_input_call(q.to_enum(:each), deadline: deadline, return_op: true)
    result = Queue.new
    t = Thread.new do
      result << op.execute
    rescue StandardError => e
      result << e
    end
    sleep 0.05
    op.cancel
    q.close
    got = result.pop
    t.join
    check(got.is_a?(PolyRPC::Cancelled), "expected CANCELLED, got #{got.inspect}")
    check(op.cancelled?, "the operation is not cancelled")
  end

  def cancel_after_first_response
    cancel_mid_stream(PING_PONG.first(1))
  end

  def timeout_on_sleeping_server
    q = RequestQueue.new
    replies = @stub.full_duplex_call(q.to_enum(:each), deadline: Time.now + 0.001)
    q.add(T::StreamingOutputCallRequest.new(payload: T::Payload.new(body: zeros(27_182))))
    expect_status(PolyRPC::DeadlineExceeded, "FullDuplexCall") do
      replies.next
      raise CaseFailed, "got a response despite the 1 ms deadline"
    end
  rescue StopIteration
    raise CaseFailed, "stream ended OK despite the 1 ms deadline"
  ensure
    q&.close
  end

  def custom_metadata
    echo_case("test_initial_metadata_value", "\x0a\x0b\x0a\x0b\x0a\x0b".b, large_request,
              streaming_request(314_159, 271_828), 314_159, 314_159)
  end

  def status_code_and_message
    status_echo("test status message", true)
  end

  def special_status_message
    status_echo("\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \u{1f608}\t\n", false)
  end

  def unimplemented_method
    expect_status(PolyRPC::Unimplemented, "UnimplementedCall") { @stub.unimplemented_call(T::Empty.new, deadline: deadline) }
  end

  def unimplemented_service
    stub = new_stub(service: T::UnimplementedService)
    expect_status(PolyRPC::Unimplemented, "UnimplementedService") do
      stub.unimplemented_call(T::Empty.new, deadline: deadline)
    end
  end

  def client_compressed_unary
    probe = large_request(expect_compressed: T::BoolValue.new(value: true))
    expect_status(PolyRPC::InvalidArgument, "probe (uncompressed, expect_compressed)") do
      @stub.unary_call(probe, deadline: deadline)
    end
    expect_payload(@stub.unary_call(probe, deadline: deadline, metadata: COMPRESS).payload, 314_159, "compressed request")
    plain = large_request(expect_compressed: T::BoolValue.new(value: false))
    expect_payload(@stub.unary_call(plain, deadline: deadline).payload, 314_159, "uncompressed request")
  end

  def server_compressed_unary
    [true, false].each do |c|
      r = @stub.unary_call(large_request(response_compressed: T::BoolValue.new(value: c)), deadline: deadline)
      expect_payload(r.payload, 314_159, "response_compressed=#{c}")
    end
  end

  def client_compressed_streaming
    req = lambda do |size, expect|
      T::StreamingInputCallRequest.new(payload: T::Payload.new(body: zeros(size)),
                                       expect_compressed: T::BoolValue.new(value: expect))
    end
    # Probe: an uncompressed message that claims expect_compressed must be refused.
    expect_status(PolyRPC::InvalidArgument, "probe") do
      @stub.streaming_input_call([req.call(27_182, true)], deadline: deadline)
    end
    # The stream: compressed (the call's gzip), then not (the write flag of the next message).
    op = nil # set below: the requests read its write flag as they are sent
    requests = Enumerator.new do |y|
      op.write_flag = 0
      y << req.call(27_182, true)
      op.write_flag = PolyRPC::Core::WriteFlags::NO_COMPRESS
      y << req.call(45_904, false)
    end
    op = @stub.streaming_input_call(requests, deadline: deadline, metadata: COMPRESS, return_op: true)
    r = op.execute
    check(r.aggregated_payload_size == 73_086, "aggregated_payload_size #{r.aggregated_payload_size}")
  end

  def server_compressed_streaming
    req = T::StreamingOutputCallRequest.new(
      response_type: :COMPRESSABLE,
      response_parameters: [T::ResponseParameters.new(size: 31_415, compressed: T::BoolValue.new(value: true)),
                            T::ResponseParameters.new(size: 92_653, compressed: T::BoolValue.new(value: false))]
    )
    replies = @stub.streaming_output_call(req, deadline: deadline).to_a
    check(replies.size == 2, "got #{replies.size} responses")
    [31_415, 92_653].each_with_index { |n, i| expect_payload(replies[i].payload, n, "response #{i}") }
  end

  # ---- polyrpc's cases (conformance/cases.json) ----

  def metadata_binary_unicode
    initial = "polyrpc ~!\#$%&'()*+,-./:;<=>?@[\\]^_`{|}"
    trailing = (0..255).map(&:chr).join.b + "h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c\u8a9e \u{1f680}".b
    unary = T::SimpleRequest.new(response_type: :COMPRESSABLE, response_size: 1, payload: T::Payload.new(body: zeros(1)))
    duplex = T::StreamingOutputCallRequest.new(response_type: :COMPRESSABLE,
                                               response_parameters: [T::ResponseParameters.new(size: 1)])
    echo_case(initial, trailing, unary, duplex, 1, 1)
  end

  def large_message_4mib
    size = 4_194_240
    req = T::SimpleRequest.new(response_type: :COMPRESSABLE, response_size: size, payload: T::Payload.new(body: zeros(size)))
    expect_payload(@stub.unary_call(req, deadline: deadline).payload, size, "UnaryCall")
  end

  def concurrent_streams
    errors = Queue.new
    unary = Array.new(100) do |i|
      Thread.new do
        req = T::SimpleRequest.new(response_type: :COMPRESSABLE, response_size: i + 1, payload: T::Payload.new(body: zeros(1)))
        n = @stub.unary_call(req, deadline: deadline).payload.body.bytesize
        errors << "unary #{i}: size #{n}" if n != i + 1
      rescue PolyRPC::BadStatus => e
        errors << "unary #{i}: #{e.code} (#{e.details})"
      end
    end
    sreq = T::StreamingOutputCallRequest.new(response_type: :COMPRESSABLE,
                                             response_parameters: Array.new(5) { T::ResponseParameters.new(size: 10) })
    streams = Array.new(8) do |i|
      Thread.new do
        got = @stub.streaming_output_call(sreq, deadline: deadline).to_a
        errors << "stream #{i}: wrong responses" if got.size != 5 || got.any? { |r| r.payload.body.bytesize != 10 }
      rescue PolyRPC::BadStatus => e
        errors << "stream #{i}: #{e.code} (#{e.details})"
      end
    end
    (unary + streams).each { |t| check(t.join(TIMEOUT), "a call did not finish") }
    all = Array.new(errors.size) { errors.pop }
    check(all.empty?, all.first(5).join("; "))
  end

  def deadline_propagation
    req = T::SimpleRequest.new(response_type: :COMPRESSABLE, response_size: 1, payload: T::Payload.new(body: zeros(1)))
    op = @stub.unary_call(req, deadline: Time.now + 5, metadata: { "x-polyrpc-echo-deadline" => "1" }, return_op: true)
    op.execute
    value = op.trailing_metadata["x-polyrpc-time-remaining-ms"]
    check(value.is_a?(String), "(a) trailing x-polyrpc-time-remaining-ms: #{value.inspect}")
    remaining = Integer(value, exception: false)
    check(remaining, "(a) x-polyrpc-time-remaining-ms is not an integer: #{value.inspect}")
    check(remaining.positive? && remaining <= 5000, "(a) remaining #{remaining} ms not in (0, 5000]")
    sreq = T::StreamingOutputCallRequest.new(
      response_type: :COMPRESSABLE,
      response_parameters: Array.new(10) { T::ResponseParameters.new(size: 1, interval_us: 200_000) }
    )
    start = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    received = 0
    expect_status(PolyRPC::DeadlineExceeded, "(b) StreamingOutputCall") do
      @stub.streaming_output_call(sreq, deadline: Time.now + 1).each { received += 1 }
    end
    elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - start
    check(received >= 1 && received < 10, "(b) received #{received} responses")
    check(elapsed < 3, format("(b) took %.2f s", elapsed))
  end

  def max_message_size
    small = new_stub({ "grpc.max_receive_message_length" => 1 << 20 })
    expect_status(PolyRPC::ResourceExhausted, "(a) 2 MiB response, 1 MiB limit") do
      small.unary_call(T::SimpleRequest.new(response_type: :COMPRESSABLE, response_size: 2_097_152), deadline: deadline)
    end
    small.channel.close
    big = T::SimpleRequest.new(response_type: :COMPRESSABLE, response_size: 1, payload: T::Payload.new(body: zeros(5_242_880)))
    expect_status(PolyRPC::ResourceExhausted, "(b) 5 MiB request") { @stub.unary_call(big, deadline: deadline) }
    ok = T::SimpleRequest.new(response_type: :COMPRESSABLE, response_size: 10, payload: T::Payload.new(body: zeros(10)))
    expect_payload(@stub.unary_call(ok, deadline: deadline).payload, 10, "(c) small call")
  end

  def cancel_mid_bidi
    cancel_mid_stream(PING_PONG.first(2))
    r = @stub.unary_call(T::SimpleRequest.new(response_type: :COMPRESSABLE, response_size: 1), deadline: deadline)
    expect_payload(r.payload, 1, "UnaryCall after cancel")
  end

  def server_closes_connection
    req = T::StreamingOutputCallRequest.new(
      response_type: :COMPRESSABLE,
      response_parameters: Array.new(4) { T::ResponseParameters.new(size: 10, interval_us: 100_000) }
    )
    start = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    received = 0
    expect_status(PolyRPC::Unavailable, "StreamingOutputCall") do
      @stub.streaming_output_call(req, deadline: deadline, metadata: { "x-polyrpc-close-connection" => "1" }).each do |r|
        expect_payload(r.payload, 10, "response #{received}")
        received += 1
      end
    end
    elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - start
    check(received >= 1, "no response before the connection closed")
    check(elapsed < 5, format("UNAVAILABLE took %.2f s", elapsed))
    small = T::SimpleRequest.new(response_type: :COMPRESSABLE, response_size: 1)
    r = begin
      @stub.unary_call(small, deadline: deadline, wait_for_ready: true)
    rescue PolyRPC::Unavailable # written to the dying connection: once more (cases.json)
      @stub.unary_call(small, deadline: deadline, wait_for_ready: true)
    end
    expect_payload(r.payload, 1, "UnaryCall after reconnect")
  end

  def compression_unsupported
    n = PolyRPC::Native
    ch = @stub.channel
    call = n.call_create_md(ch.native, "/grpc.testing.TestService/UnaryCall", TIMEOUT * 1000, nil, 0)
    begin
      n.polyrpc_call_set_compression(call, "gzip")
      n.polyrpc_call_set_encoding_label_for_testing(call, "x-polyrpc-unknown")
      req = T::SimpleRequest.new(response_type: :COMPRESSABLE, response_size: 1, payload: T::Payload.new(body: zeros(100)))
      _resp, code, details = n.call_unary_status_nogvl(call, T::SimpleRequest.encode(req))
      check(code == PolyRPC::Core::StatusCodes::UNIMPLEMENTED, "expected UNIMPLEMENTED, got #{code} (#{details})")
    ensure
      n.polyrpc_call_destroy(call)
    end
  end

  private

  def cancel_mid_stream(rounds)
    q = RequestQueue.new
    op = @stub.full_duplex_call(q.to_enum(:each), deadline: deadline, return_op: true)
    replies = op.execute
    rounds.each_with_index do |(resp, pay), i|
      q.add(streaming_request(resp, pay))
      expect_payload(next_response(replies, "round #{i}").payload, resp, "round #{i}")
    end
    op.cancel
    q.close
    expect_status(PolyRPC::Cancelled, "FullDuplexCall") do
      replies.next
      raise CaseFailed, "stream continued after cancel"
    end
  rescue StopIteration
    raise CaseFailed, "stream ended OK after cancel"
  end

  def check_echo(op, initial, trailing, what)
    got_i = op.metadata[ECHO_INITIAL_KEY]
    got_t = op.trailing_metadata[ECHO_TRAILING_KEY]
    check(got_i == initial, "#{what}: initial metadata echo #{got_i.inspect}")
    check(got_t == trailing, "#{what}: trailing metadata echo #{got_t.inspect}")
  end

  def echo_case(initial, trailing, unary, duplex, unary_size, duplex_size)
    md = { ECHO_INITIAL_KEY => initial, ECHO_TRAILING_KEY => trailing }
    op = @stub.unary_call(unary, deadline: deadline, metadata: md, return_op: true)
    expect_payload(op.execute.payload, unary_size, "UnaryCall")
    check_echo(op, initial, trailing, "UnaryCall")
    q = RequestQueue.new
    op = @stub.full_duplex_call(q.to_enum(:each), deadline: deadline, metadata: md, return_op: true)
    replies = op.execute
    q.add(duplex)
    expect_payload(next_response(replies, "FullDuplexCall").payload, duplex_size, "FullDuplexCall")
    q.close
    expect_end(replies, "FullDuplexCall")
    check_echo(op, initial, trailing, "FullDuplexCall")
  end

  def status_echo(message, with_duplex)
    status = T::EchoStatus.new(code: 2, message: message)
    req = T::SimpleRequest.new(response_type: :COMPRESSABLE, response_size: 1,
                               payload: T::Payload.new(body: zeros(1)), response_status: status)
    e = expect_status(PolyRPC::Unknown, "UnaryCall") { @stub.unary_call(req, deadline: deadline) }
    check(e.details == message, "UnaryCall: message #{e.details.inspect}")
    return unless with_duplex
    dreq = T::StreamingOutputCallRequest.new(response_type: :COMPRESSABLE,
                                             response_parameters: [T::ResponseParameters.new(size: 1)],
                                             payload: T::Payload.new(body: zeros(1)), response_status: status)
    e = expect_status(PolyRPC::Unknown, "FullDuplexCall") { @stub.full_duplex_call([dreq], deadline: deadline).to_a }
    check(e.details == message, "FullDuplexCall: message #{e.details.inspect}")
  end
end

CASES = %w[
  empty_unary large_unary client_streaming server_streaming ping_pong empty_stream
  cancel_after_begin cancel_after_first_response timeout_on_sleeping_server custom_metadata
  status_code_and_message special_status_message unimplemented_method unimplemented_service
  client_compressed_unary server_compressed_unary client_compressed_streaming
  server_compressed_streaming metadata_binary_unicode large_message_4mib concurrent_streams
  deadline_propagation max_message_size cancel_mid_bidi server_closes_connection
  compression_unsupported
].freeze

flags = Interop.parse_flags(ARGV, server_host: "localhost", server_port: 0, server_host_override: "",
                                  test_case: "", use_tls: false, use_test_ca: false,
                                  cert_dir: Interop.default_cert_dir)
name = flags[:test_case]
unless CASES.include?(name)
  warn "unsupported test case: #{name}"
  exit 2
end
if flags[:server_port] <= 0
  warn "--server_port=N is required"
  exit 2
end
begin
  Cases.new(flags).public_send(name)
rescue CaseFailed => e
  warn "#{name} failed: #{e.message}"
  exit 1
rescue PolyRPC::BadStatus => e
  warn "#{name} failed: unexpected status #{e.code} (#{e.details})"
  exit 1
rescue StandardError => e
  warn "#{name} failed: #{e.class}: #{e.message}"
  exit 1
end
exit 0
