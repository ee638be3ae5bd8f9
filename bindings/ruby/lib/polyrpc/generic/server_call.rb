# frozen_string_literal: true

module PolyRPC
  # What a service handler receives as `call`, as the grpc gem's call views: the client's
  # metadata and deadline, cancellation, the metadata to send back, and (for client and bidi
  # streams) the requests. Every wait runs without the GVL.
  class ServerCall
    include Core::StatusCodes

    attr_reader :metadata_to_send, :output_metadata

    # native: the server call; cq: its handler thread's queue (answers are started there and
    # not waited for); first: [message, compressed] when the request came with the call.
    def initialize(native, marshal, unmarshal, connect_md, cq, first) # :nodoc:
      @native = native
      @marshal = marshal
      @unmarshal = unmarshal
      @cq = cq
      @metadata_to_send = connect_md ? connect_md.dup : {}
      @metadata_sent = false
      @output_metadata = {}
      @metadata = nil
      @write_flag = 0
      @last_compressed = false
      @deadline = nil
      @input_done = false
      @first = first
    end

    # The client's deadline (a Time; Core::TimeConsts::INFINITE_FUTURE without one).
    def deadline
      @deadline ||= begin
        ms = Native.polyrpc_call_time_remaining_ms(@native)
        ms.negative? ? Core::TimeConsts::INFINITE_FUTURE : Time.now + ms / 1000.0
      end
    end

    # Seconds left before the client's deadline (a Float, 0.0 once passed; nil without one), read
    # now from the call's monotonic clock: unlike deadline - Time.now, a step of the wall clock
    # does not change it. A polyrpc addition to the grpc gem's API.
    def time_remaining
      ms = Native.polyrpc_call_time_remaining_ms(@native)
      ms.negative? ? nil : ms / 1000.0
    end

    # The client's request metadata (a Hash; a repeated key has an Array of values).
    def metadata
      @metadata ||= Native.call_metadata_hash(@native, 2)
    end

    # True once the client cancelled the call, its deadline passed or the connection was lost.
    def cancelled?
      Native.polyrpc_call_is_cancelled(@native) == 1
    end

    # The client's address ("ipv4:127.0.0.1:40000").
    def peer
      @peer ||= Native.polyrpc_call_peer(@native)
    end

    # The client's certificate is not exposed by libpolyrpc 0.2: always nil.
    def peer_cert
      nil
    end

    # The :method path ("/pkg.Service/Method") and the :authority of the call.
    def method_path
      Native.polyrpc_call_method(@native)
    end

    def authority
      Native.polyrpc_call_authority(@native)
    end

    def metadata_sent
      @metadata_sent
    end

    def merge_metadata_to_send(new_metadata = {})
      raise Core::CallError, "cannot change the metadata after it was sent" if @metadata_sent
      @metadata_to_send.merge!(new_metadata)
    end

    # Sends the initial metadata now (metadata_to_send with new_metadata merged); otherwise it
    # goes with the first response or the status.
    def send_initial_metadata(new_metadata = {})
      return if @metadata_sent
      @metadata_to_send.merge!(new_metadata) unless new_metadata.empty?
      @metadata_sent = true
      Native.call_send_initial_metadata_nogvl(@native, @metadata_to_send)
      nil
    end

    # The client's messages, one by one, until it half-closes: an Enumerator without a block.
    def each_remote_read
      return enum_for(:each_remote_read) unless block_given?
      while (req = remote_read)
        yield req
      end
    end

    # Responses are sent compressed with algorithm ("gzip", "deflate", "identity") if the client
    # accepts it; set it before the first response. (polyrpc)
    def set_compression(algorithm)
      Native.polyrpc_call_set_response_compression(@native, algorithm.to_s)
    end

    # Flags of the responses sent from now on (Core::WriteFlags::NO_COMPRESS). (polyrpc)
    attr_accessor :write_flag

    # Whether the last request read arrived compressed. (polyrpc)
    def last_request_compressed?
      @last_compressed
    end

    # Conformance test hook only: drops the whole connection of this call abruptly. (polyrpc)
    def close_connection_for_testing
      Native.polyrpc_call_close_connection_for_testing(@native)
    end

    # ---- used by RpcServer --------------------------------------------------------------------

    def remote_read # :nodoc:
      return nil if @input_done
      if @first
        msg, @last_compressed = @first
        @first = nil
        @input_done = true # the one request of a unary or server-streaming call
        return msg && @unmarshal.call(msg)
      end
      msg, @last_compressed = Native.call_read_flags_nogvl(@native)
      if msg.nil?
        @input_done = true
        return nil
      end
      @unmarshal.call(msg)
    end

    # One response message; false once the call is over (the client left).
    def remote_send(resp) # :nodoc:
      flush_initial_metadata
      Native.call_write_nogvl(@native, @marshal.call(resp), @write_flag)
    end

    def read_unary_request # :nodoc:
      req = remote_read
      raise Internal.new("the client sent no request message") if req.nil?
      req
    end

    # The response and the status, started without waiting (the handler thread goes on to the
    # next call at once).
    def server_unary_response(resp, trailing_metadata: {}) # :nodoc:
      payload = @marshal.call(resp)
      Native.call_respond_async(@native, @cq, initial_metadata_to_flush, payload, @write_flag, OK,
                                nil, trailing_metadata)
    end

    def send_status(code = OK, details = "", metadata: {}) # :nodoc:
      Native.call_respond_async(@native, @cq, initial_metadata_to_flush, nil, 0, code,
                                details.to_s, metadata)
    end

    private

    def flush_initial_metadata
      return if @metadata_sent || @metadata_to_send.empty?
      send_initial_metadata
    end

    # The initial metadata still to send with the answer (nil: none, or sent already).
    def initial_metadata_to_flush
      return nil if @metadata_sent
      @metadata_sent = true
      @metadata_to_send.empty? ? nil : @metadata_to_send
    end
  end
end
