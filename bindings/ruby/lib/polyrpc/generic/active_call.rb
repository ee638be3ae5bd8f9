# frozen_string_literal: true

module PolyRPC
  module Core
    # Write flags for Operation#write_flag= (the grpc gem's names).
    module WriteFlags
      BUFFER_HINT = 0 # accepted for compatibility: polyrpc coalesces writes on its own
      NO_COMPRESS = Native::POLYRPC_WRITE_NO_COMPRESS
    end
  end

  # One client call, as the grpc gem's ActiveCall: ClientStub makes them. Every wait runs
  # without the GVL and ends when the thread is interrupted (Thread#raise, Thread#kill, Ctrl-C):
  # the call is then cancelled on the wire. The native call is released as soon as the call is
  # over (or by the garbage collector, for a stream that was abandoned half way).
  class ActiveCall # rubocop:disable Metrics/ClassLength
    include Core::StatusCodes

    # Metadata keys of the grpc gem that set options rather than travel on the wire.
    COMPRESSION_KEY = "grpc-internal-encoding-request"
    INSECURE_CALL_CREDS = "Established channel does not have a sufficient security level " \
                          "to transfer call credential."

    attr_reader :deadline, :metadata_to_send, :status, :trailing_metadata
    attr_accessor :write_flag

    def initialize(channel, method, marshal, unmarshal, deadline, credentials: nil,
                   wait_for_ready: false)
      @channel = channel
      @method = method
      @marshal = marshal
      @unmarshal = unmarshal
      @deadline = deadline
      @credentials = credentials
      @flags = wait_for_ready ? Native::POLYRPC_CALL_WAIT_FOR_READY : 0
      @metadata_to_send = {}
      @metadata_sent = false
      @write_flag = 0
      @holder = [nil]
      @lock = Mutex.new
      @cancelled = false
      @executed = false
      @keep_metadata = false
      @metadata = nil
      @trailing_metadata = nil
      @status = nil
      @writer = nil
      @writer_error = nil
      @finalizer = false
    end

    def metadata_sent
      @metadata_sent
    end

    # The server's initial metadata (a Hash), once it has arrived; nil before.
    def metadata
      @metadata
    end

    # The peer's address ("ipv4:127.0.0.1:50051"), once the call has started.
    def peer
      h = @holder[0]
      @peer ||= h ? Native.polyrpc_call_peer(h) : nil
    end

    def merge_metadata_to_send(new_metadata = {})
      @lock.synchronize do
        raise Core::CallError, "cannot change the metadata after it was sent" if @metadata_sent
        @metadata_to_send.merge!(new_metadata)
      end
    end

    # Cancels the call: from any thread, at any time; the waiting side raises PolyRPC::Cancelled.
    # A call not started yet will not start.
    def cancel
      @lock.synchronize do
        @cancelled = true
        h = @holder[0]
        Native.polyrpc_call_cancel(h) if h
      end
      nil
    end

    def cancelled?
      @cancelled || (!@status.nil? && @status.code == CANCELLED)
    end

    # An Operation over this call (return_op: true): initial and trailing metadata are kept.
    def operation
      @keep_metadata = true
      Operation.new(self)
    end

    def interceptable
      InterceptableView.new(self)
    end

    # ---- the four kinds ---------------------------------------------------------------------

    def request_response(req, metadata: {})
      executed!
      payload = @marshal.call(req)
      call = start(metadata)
      begin
        resp, code, details = Native.call_unary_status_nogvl(call, payload)
        finish(call, code, details)
        raise Internal.new("the server sent no response message") if resp.nil?
        @unmarshal.call(resp)
      ensure
        release
      end
    end

    def client_streamer(requests, metadata: {})
      executed!
      assert_enumerable(requests)
      # One response: an OK without it, or a second one, is UNIMPLEMENTED (statuscodes.md).
      @flags |= Native::POLYRPC_CALL_ONE_RESPONSE
      call = start(metadata)
      begin
        requests.each do |r|
          break unless Native.call_write_nogvl(call, @marshal.call(r), @write_flag)
        end
        Native.call_close_send_nogvl(call)
        resp = Native.call_read_nogvl(call)
        Native.call_recv_status_nogvl(call)
        code, details = Native.call_status_array(call)
        finish(call, code, details)
        raise Internal.new("the server sent no response message") if resp.nil?
        @unmarshal.call(resp)
      ensure
        release
      end
    end

    # Sends req and returns an Enumerator of the responses (or yields each to the block). The
    # Enumerator raises BadStatus at the end if the call failed; leaving it early (break)
    # cancels the call.
    def server_streamer(req, metadata: {}, &blk)
      executed!
      payload = @marshal.call(req)
      call = start(metadata, stream: true)
      begin
        Native.call_write_nogvl(call, payload, @write_flag | Native::POLYRPC_WRITE_LAST)
      rescue Exception # rubocop:disable Lint/RescueException
        release
        raise
      end
      replies = enum_for(:each_remote_read_then_finish)
      return replies unless blk
      replies.each(&blk)
    end

    # Writes requests (any Enumerable, read on a thread of its own) while the responses come
    # back through the returned Enumerator (or the block).
    def bidi_streamer(requests, metadata: {}, &blk)
      executed!
      assert_enumerable(requests)
      call = start(metadata, stream: true)
      @writer = Thread.new { write_loop(call, requests) }
      @writer.report_on_exception = false
      replies = enum_for(:each_remote_read_then_finish)
      return replies unless blk
      replies.each(&blk)
    end

    def each_remote_read_then_finish
      call = @holder[0]
      raise Core::CallError, "the call is over; its responses were read already" if call.nil?
      begin
        receive_initial_metadata(call) if @keep_metadata
        while (msg = Native.call_read_nogvl(call))
          yield @unmarshal.call(msg)
        end
        Native.call_recv_status_nogvl(call)
        stop_writer(call)
        if @writer_error
          raise Unknown.new("bidi call error: #{@writer_error.class}: #{@writer_error.message}")
        end
        code, details = Native.call_status_array(call)
        finish(call, code, details)
        nil
      ensure
        stop_writer(call)
        release
      end
    end

    private

    def executed!
      @lock.synchronize do
        raise Core::CallError, "attempting to re-run a call" if @executed
        @executed = true
      end
    end

    def assert_enumerable(requests)
      return if requests.respond_to?(:each)
      raise TypeError, "requests must be an Enumerable (respond to #each), not #{requests.class}"
    end

    # Creates the native call with the metadata to send. stream: the call may outlive this
    # method (an Enumerator), so a finalizer releases it if it is dropped unfinished.
    def start(metadata, stream: false)
      md = @metadata_to_send.empty? ? metadata : @metadata_to_send.merge(metadata || {})
      compression = nil
      if md && md.key?(COMPRESSION_KEY)
        md = md.dup
        compression = md.delete(COMPRESSION_KEY)
      end
      creds = @channel.call_credentials
      if @credentials
        raise Unavailable.new(INSECURE_CALL_CREDS) unless @channel.secure?
        creds = creds ? creds.compose(@credentials) : @credentials
      end
      md = (md || {}).merge(creds.metadata_for(@channel.host, @method)) if creds
      timeout = Core::TimeConsts.timeout_ms(@deadline)
      @lock.synchronize do
        raise Cancelled.new("Cancelled") if @cancelled
        call = Native.call_create_md(@channel.native, @method, timeout, md, @flags)
        @holder[0] = call
        @metadata_sent = true
        if stream && !@finalizer
          ObjectSpace.define_finalizer(self, NativeHandle.finalizer(@holder, :polyrpc_call_destroy))
          @finalizer = true
        end
        Native.polyrpc_call_set_compression(call, compression.to_s) if compression
        call
      end
    end

    def receive_initial_metadata(call)
      return unless @metadata.nil?
      Native.call_recv_initial_metadata_nogvl(call)
      @metadata = Native.call_metadata_hash(call, 0)
    end

    def finish(call, code, details)
      if @keep_metadata || code != OK
        @metadata ||= Native.call_metadata_hash(call, 0)
        @trailing_metadata = Native.call_metadata_hash(call, 1)
      end
      @status = Status.new(code, details, @trailing_metadata || {})
      return if code == OK
      raise BadStatus.new_status_exception(code, details, @trailing_metadata)
    end

    def release
      h = nil
      @lock.synchronize do
        h = @holder[0]
        @holder[0] = nil
      end
      Native.polyrpc_call_destroy(h) if h
    end

    def write_loop(call, requests)
      requests.each do |r|
        break unless Native.call_write_nogvl(call, @marshal.call(r), @write_flag)
      end
      Native.call_close_send_nogvl(call)
    rescue StandardError => e
      @writer_error = e
      Native.polyrpc_call_cancel(call)
    end

    # The writer must be gone before the call is released. Once the call is over its writes
    # return at once; a writer still inside the caller's Enumerable (waiting for a next
    # request that will never be sent) is stopped.
    def stop_writer(call)
      w = @writer
      return if w.nil?
      unless w.join(0.05)
        Native.polyrpc_call_cancel(call)
        w.kill unless w.join(0.2)
        w.join
      end
      @writer = nil
    end

    def self.view_class(*visible_methods)
      Class.new do
        extend ::Forwardable
        def_delegators :@wrapped, *visible_methods
        def initialize(wrapped)
          @wrapped = wrapped
        end
      end
    end

    InterceptableView = view_class(:deadline)
  end

  # What a stub returns with return_op: true, as the grpc gem's Operation: #execute runs the
  # call (and returns its response, or the Enumerator of responses); #cancel from another
  # thread ends it; #metadata, #trailing_metadata and #status once it is over.
  class Operation
    extend ::Forwardable
    def_delegators :@call, :cancel, :cancelled?, :deadline, :metadata, :status,
                   :trailing_metadata, :write_flag, :write_flag=, :peer

    def initialize(call)
      @call = call
      @execute = nil
    end

    def execute
      raise Core::CallError, "this operation has nothing to execute" if @execute.nil?
      @execute.call
    end

    def on_execute(&blk) # :nodoc:
      @execute = blk
      self
    end
  end
end
