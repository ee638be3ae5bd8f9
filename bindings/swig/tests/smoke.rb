# The generated Ruby wrapper (PolyRPC::Native), checked against the C ABI: every kind of typemap
# of bindings/swig/typemaps_ruby.swg, and one real call from a client to a server of the same
# process through a completion queue. Run by ctest (swig.ruby); a failed check raises.
require "polyrpc_native"

N = PolyRPC::Native

def check(cond, what)
  raise "FAILED: #{what}" unless cond
end

def raises(klass)
  yield
  nil
rescue klass => e
  e
end

check(N.polyrpc_version == N.polyrpc_version.encode("UTF-8") && N.polyrpc_version =~ /\A\d+\.\d+\.\d+\z/, "version")

# Bytes in and borrowed bytes out, binary-safe.
bytes = "a\x00b\xff".b
buf = N.polyrpc_buffer_create_copy(bytes)
check(N.polyrpc_buffer_data(buf) == bytes, "buffer round trip")
check(N.polyrpc_buffer_data(buf).encoding == Encoding::BINARY, "bytes are binary")
check(N.polyrpc_buffer_length(buf) == 4, "size_t result")

# Errors: the code and polyrpc_last_error(), read in the wrapper.
e = raises(N::Error) { N.polyrpc_buffer_data(nil) }
check(e && e.code == N::POLYRPC_ERROR_INVALID_ARGUMENT && e.name == "POLYRPC_ERROR_INVALID_ARGUMENT" &&
      e.message.include?("buffer is NULL"), "error carries code, name and message: #{e.inspect}")
# A handle of the wrong type is Ruby's TypeError, before the C function runs.
md = N.polyrpc_metadata_create
check(raises(TypeError) { N.polyrpc_buffer_data(md) }, "wrong handle type is a TypeError")
check(raises(TypeError) { N.polyrpc_buffer_create_copy(42) }, "bytes must be a String")

# Metadata: string and bytes out together.
N.polyrpc_metadata_add(md, "k-bin", "\x01\x02".b)
N.polyrpc_metadata_add(md, "plain", "v")
check(N.polyrpc_metadata_count(md) == 2, "metadata count")
check(N.polyrpc_metadata_get(md, 0) == ["k-bin", "\x01\x02".b], "metadata get")
check(N.polyrpc_metadata_find(md, "plain") == "v", "metadata find")
e = raises(N::Error) { N.polyrpc_metadata_add(md, "Bad Key", "x") }
check(e && e.code == N::POLYRPC_ERROR_INVALID_ARGUMENT, "bad key refused")
N.polyrpc_metadata_destroy(md)

# Events: struct_size set by the wrapper; wake-ups from another thread.
cq = N.polyrpc_cq_create
check(N.polyrpc_cq_next(cq, 0) == [N::POLYRPC_EVENT_NONE, 0, 0], "empty poll")
N.polyrpc_cq_wake(cq)
check(N.polyrpc_cq_next(cq, 0) == [N::POLYRPC_EVENT_WAKEUP, 0, 0], "wake-up event")

# The hand-written waits (polyrpc_ruby.c): without the GVL, ended by Thread#raise at once.
counter = 0
waiter = Thread.new { N.cq_next_nogvl(cq, -1) }
waiter.report_on_exception = false
50.times { counter += 1; sleep 0.001 }
check(counter == 50 && waiter.alive?, "other threads run while one waits")
t0 = Time.now
waiter.raise(IOError, "interrupted")
check(raises(IOError) { waiter.join }&.message == "interrupted", "Thread#raise ends the wait")
check(Time.now - t0 < 1.0, "at once")

# A call from a client to a server in this process, tags as (large) Integers.
creds = N.polyrpc_server_credentials_create_insecure
server = N.polyrpc_server_create(nil)
port = N.polyrpc_server_add_listener(server, "127.0.0.1:0", creds)
check(port.is_a?(Integer) && port > 0, "port out")
N.polyrpc_server_register_method(server, "/smoke.S/M")
N.polyrpc_server_start(server)
server_tag = 1 << 40
N.polyrpc_server_request_call_v2(server, cq, server_tag)

ccreds = N.polyrpc_channel_credentials_create_insecure
ch = N.polyrpc_channel_create("127.0.0.1:#{port}", ccreds, nil)
call = N.polyrpc_call_create(ch, "/smoke.S/M", 5000, nil, 0)
N.polyrpc_call_send_message(call, buf, N::POLYRPC_WRITE_LAST, cq, 7)
N.polyrpc_call_recv_status(call, cq, 8)

seen = {}
deadline = Time.now + 10
until seen.key?(8) || Time.now > deadline
  type, tag, ok = N.polyrpc_cq_next(cq, 0)
  if type == N::POLYRPC_EVENT_NONE
    sleep 0.005
    next
  end
  check(type == N::POLYRPC_EVENT_COMPLETE, "completion type")
  seen[tag] = ok
  next unless tag == server_tag
  check(ok == 1, "request completed")
  sc = N.polyrpc_server_take_call(server, server_tag)
  check(N.polyrpc_call_method(sc) == "/smoke.S/M", "server call method")
  msg = N.polyrpc_call_read(sc)
  check(N.polyrpc_buffer_data(msg) == bytes, "server read the request")
  check(N.polyrpc_call_read(sc).nil?, "end of stream is nil, not an error")
  check(N.call_read_nogvl(sc).nil?, "so is the GVL-free read's")
  N.polyrpc_call_send_status(sc, 5, "not here", nil, nil, 0)
  N.polyrpc_buffer_destroy(msg)
  N.polyrpc_call_destroy(sc)
end
check(seen[7] == 1 && seen[8] == 1, "client completions: #{seen.inspect}")
code, message = N.polyrpc_call_status(call)
check(code == 5 && message == "not here", "status out: #{code} #{message}")
e = raises(N::Error) { N.polyrpc_server_take_call(server, server_tag) }
check(e && e.code == N::POLYRPC_ERROR_NOT_FOUND, "taken once")

N.polyrpc_call_destroy(call)
N.polyrpc_channel_destroy(ch)
N.polyrpc_server_destroy(server)
N.polyrpc_cq_destroy(cq)
N.polyrpc_buffer_destroy(buf)
N.polyrpc_channel_credentials_destroy(ccreds)
N.polyrpc_server_credentials_destroy(creds)
N.polyrpc_shutdown(-1)
puts "ok: ruby wrapper"
