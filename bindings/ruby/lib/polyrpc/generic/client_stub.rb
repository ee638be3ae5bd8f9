# frozen_string_literal: true

module PolyRPC
  # The client of a service, as GRPC::ClientStub: generated stubs (Service.rpc_stub_class)
  # derive from it. Thread-safe: one stub may serve every thread of a process, and a forked
  # child too (its channel reconnects there).
  #
  #   stub = Helloworld::Greeter::Stub.new("127.0.0.1:50051", :this_channel_is_insecure)
  #   stub.say_hello(req, deadline: Time.now + 5, metadata: {"k" => "v"})
  class ClientStub
    include Core::StatusCodes
    include Core::TimeConsts

    DEFAULT_TIMEOUT = INFINITE_FUTURE

    attr_accessor :propagate_mask

    # A channel for host with creds (:this_channel_is_insecure or a ChannelCredentials), or
    # alt_chan if given.
    def self.setup_channel(alt_chan, host, creds, channel_args = {})
      unless alt_chan.nil?
        raise TypeError, "channel_override must be a PolyRPC::Core::Channel" unless alt_chan.is_a?(Core::Channel)
        return alt_chan
      end
      Core::Channel.new(host, channel_args, creds)
    end

    # host: "127.0.0.1:50051" (or any target the C ABI takes: "dns:///name:port", "unix:/path");
    # timeout: default seconds per call (nil: none); interceptors: ClientInterceptors.
    def initialize(host, creds, channel_override: nil, timeout: nil, propagate_mask: nil,
                   channel_args: {}, interceptors: [])
      @ch = ClientStub.setup_channel(channel_override, host, creds, (channel_args || {}).dup)
      @host = @ch.host
      @propagate_mask = propagate_mask
      @timeout = timeout.nil? ? DEFAULT_TIMEOUT : timeout
      @interceptors = InterceptorRegistry.new(interceptors)
    end

    # The stub's channel (Core::Channel).
    def channel
      @ch
    end

    # Unary call. Returns the response, or raises a BadStatus (PolyRPC::NotFound, ...). With
    # return_op: true, returns an Operation to #execute.
    def request_response(method, req, marshal, unmarshal, deadline: nil, return_op: false,
                         parent: nil, credentials: nil, metadata: {}, wait_for_ready: false)
      if !return_op && credentials.nil? && @interceptors.empty? && @ch.call_credentials.nil? &&
         metadata.is_a?(Hash) && !metadata.key?(ActiveCall::COMPRESSION_KEY)
        return plain_unary(method, req, marshal, deadline, metadata, wait_for_ready, unmarshal)
      end
      c = new_active_call(method, marshal, unmarshal, deadline, credentials, wait_for_ready)
      run(:request_response, c, return_op, method: method, request: req, metadata: metadata) do
        c.request_response(req, metadata: metadata)
      end
    end

    # Client streaming: requests is any Enumerable; returns the response.
    def client_streamer(method, requests, marshal, unmarshal, deadline: nil, return_op: false,
                        parent: nil, credentials: nil, metadata: {}, wait_for_ready: false)
      c = new_active_call(method, marshal, unmarshal, deadline, credentials, wait_for_ready)
      run(:client_streamer, c, return_op, method: method, requests: requests, metadata: metadata) do
        c.client_streamer(requests, metadata: metadata)
      end
    end

    # Server streaming: returns an Enumerator of the responses (or yields each to the block).
    def server_streamer(method, req, marshal, unmarshal, deadline: nil, return_op: false,
                        parent: nil, credentials: nil, metadata: {}, wait_for_ready: false, &blk)
      c = new_active_call(method, marshal, unmarshal, deadline, credentials, wait_for_ready)
      run(:server_streamer, c, return_op, method: method, request: req, metadata: metadata) do
        c.server_streamer(req, metadata: metadata, &blk)
      end
    end

    # Bidirectional streaming: requests is any Enumerable (read on a thread of its own);
    # returns an Enumerator of the responses (or yields each to the block).
    def bidi_streamer(method, requests, marshal, unmarshal, deadline: nil, return_op: false,
                      parent: nil, credentials: nil, metadata: {}, wait_for_ready: false, &blk)
      c = new_active_call(method, marshal, unmarshal, deadline, credentials, wait_for_ready)
      run(:bidi_streamer, c, return_op, method: method, requests: requests, metadata: metadata) do
        c.bidi_streamer(requests, metadata: metadata, &blk)
      end
    end

    private

    # A unary call that needs no call object (no operation, interceptor or credentials): one
    # native call does it all.
    def plain_unary(method, req, marshal, deadline, metadata, wait_for_ready, unmarshal)
      raise TypeError, "method must be a String path (\"/pkg.Service/Method\")" unless method.is_a?(String)
      deadline = from_relative_time(@timeout) if deadline.nil?
      resp, code, details, trailers = Native.client_unary_nogvl(
        @ch.native, method, Core::TimeConsts.timeout_ms(deadline), metadata.empty? ? nil : metadata,
        wait_for_ready ? Native::POLYRPC_CALL_WAIT_FOR_READY : 0, marshal.call(req)
      )
      raise BadStatus.new_status_exception(code, details, trailers || {}) if code != OK
      raise Internal.new("the server sent no response message") if resp.nil?
      unmarshal.call(resp)
    end

    def run(kind, call, return_op, args, &blk)
      unless args[:metadata].is_a?(Hash)
        raise TypeError, "metadata must be a Hash, not #{args[:metadata].class}"
      end
      if @interceptors.empty?
        return blk.call unless return_op
        return call.operation.on_execute(&blk)
      end
      ctx = @interceptors.build_context
      args[:call] = call.interceptable
      return ctx.intercept!(kind, args, &blk) unless return_op
      call.operation.on_execute { ctx.intercept!(kind, args, &blk) }
    end

    def new_active_call(method, marshal, unmarshal, deadline, credentials, wait_for_ready)
      raise TypeError, "method must be a String path (\"/pkg.Service/Method\")" unless method.is_a?(String)
      unless credentials.nil? || credentials.is_a?(Core::CallCredentials)
        raise TypeError, "credentials must be a PolyRPC::Core::CallCredentials, not #{credentials.class}"
      end
      deadline = from_relative_time(@timeout) if deadline.nil?
      ActiveCall.new(@ch, method, marshal, unmarshal, deadline, credentials: credentials,
                                                               wait_for_ready: wait_for_ready)
    end
  end
end
