# frozen_string_literal: true

module PolyRPC
  # A gRPC server, as GRPC::RpcServer:
  #
  #   server = PolyRPC::RpcServer.new(pool_size: 8)
  #   port = server.add_http2_port("127.0.0.1:0", :this_port_is_insecure)
  #   server.handle(GreeterImpl)            # a GenericService class (made once) or an instance
  #   server.run_till_terminated_or_interrupted(["INT", "TERM"])
  #
  # pool_size threads serve the calls. Each waits for the next call on a completion queue
  # without the GVL, takes it and runs its handler; so a call goes from the network to its
  # handler with no hand-off between Ruby threads, and any number of calls wait in the queue
  # while every thread is busy. Handlers may block.
  class RpcServer
    include Core::StatusCodes

    DEFAULT_POOL_SIZE = 30
    DEFAULT_MAX_WAITING_REQUESTS = 20
    DEFAULT_POLL_PERIOD = 1
    # Server argument names of the grpc gem that the C ABI spells the same way are passed on.

    attr_reader :pool_size

    # pool_size: handler threads; poll_period: seconds that calls in flight get to finish when
    # the server stops; pool_keep_alive: seconds stop waits for busy handlers after that;
    # connect_md_proc: proc(method, metadata) -> Hash of initial metadata for every call;
    # server_args: gRPC server arguments ("grpc.max_receive_message_length" => ...);
    # interceptors: ServerInterceptors. max_waiting_requests is accepted for compatibility:
    # calls wait in polyrpc's own bounded queue (10000) until a thread is free.
    def initialize(pool_size: DEFAULT_POOL_SIZE,
                   max_waiting_requests: DEFAULT_MAX_WAITING_REQUESTS,
                   poll_period: DEFAULT_POLL_PERIOD,
                   pool_keep_alive: 1,
                   connect_md_proc: nil,
                   server_args: {},
                   interceptors: [])
      raise ArgumentError, "pool size must be positive" unless pool_size.is_a?(Integer) && pool_size.positive?
      raise TypeError, "connect_md_proc must be a Proc" unless connect_md_proc.nil? || connect_md_proc.is_a?(Proc)
      @pool_size = pool_size
      @max_waiting_requests = max_waiting_requests
      @poll_period = poll_period
      @keep_alive = pool_keep_alive
      @connect_md_proc = connect_md_proc
      @interceptors = InterceptorRegistry.new(interceptors)
      @run_mutex = Mutex.new
      @run_cond = ConditionVariable.new
      @running_state = :not_started
      @rpc_descs = {}
      @routes = {}
      @workers = []
      @tag_mutex = Mutex.new
      @next_tag = 0
      @cqs = []
      PolyRPC.note_use
      @holder = [create_native(server_args || {})]
      @pid = Process.pid
      ObjectSpace.define_finalizer(self, NativeHandle.finalizer(@holder, :polyrpc_server_destroy))
    end

    # Adds a listener: host "127.0.0.1:50051" ("...:0" picks a free port), creds
    # :this_port_is_insecure or a Core::ServerCredentials. Returns the port bound.
    def add_http2_port(host, creds)
      raise TypeError, "host must be a String, not #{host.class}" unless host.is_a?(String)
      native_creds = case creds
                     when :this_port_is_insecure then Native.polyrpc_server_credentials_create_insecure
                     when Core::ServerCredentials then creds.native_create
                     else
                       raise TypeError, "creds must be :this_port_is_insecure or a " \
                                        "PolyRPC::Core::ServerCredentials, not #{creds.inspect}"
                     end
      begin
        @run_mutex.synchronize do
          raise "cannot add ports once the server has been started" unless @running_state == :not_started
          Native.polyrpc_server_add_listener(native, host, native_creds)
        end
      rescue Native::Error => e
        raise RuntimeError, "could not add port #{host}: #{e.message}"
      ensure
        Native.polyrpc_server_credentials_destroy(native_creds)
      end
    end

    # Serves a service: a class that includes GenericService (one instance is made) or an
    # instance of one.
    def handle(service)
      @run_mutex.synchronize do
        raise "cannot add services if the server has been started" unless @running_state == :not_started
        cls = service.is_a?(Class) ? service : service.class
        raise "#{cls} must 'include GenericService'" unless cls.include?(GenericService)
        raise "#{cls} should specify some rpc descriptions" if cls.rpc_descs.empty?
        impl = service.is_a?(Class) ? cls.new : service
        cls.rpc_descs.each_pair do |name, desc|
          route = "/#{cls.service_name}/#{name}"
          raise "already registered: rpc #{route} from #{desc}" if @routes.key?(route)
          handler = impl.method(GenericService.underscore(name.to_s).to_sym)
          desc.assert_arity_matches(handler) unless handler.arity.negative?
          @routes[route] = [desc, handler, desc.marshal_proc(:output), desc.unmarshal_proc(:input)].freeze
        end
      end
      self
    end

    # Serves grpc.health.v1.Health (Check, Watch) from the core; before #run. Returns the
    # HealthService whose #set changes a status at run time (the same one if called again).
    def enable_health
      @run_mutex.synchronize do
        raise "cannot enable health once the server has been started" unless @running_state == :not_started
        @health ||= begin
          Native.polyrpc_server_enable_health(native)
          HealthService.new(self)
        end
      end
    end

    # Serves server reflection (grpc.reflection.v1 and v1alpha) from the core; before #run.
    # file_descriptor_set: a serialized google.protobuf.FileDescriptorSet of the services'
    # files with their imports (protoc --descriptor_set_out=F --include_imports, File.binread),
    # or nil. The services of the handlers are listed either way, and the health and reflection
    # services described.
    def enable_reflection(file_descriptor_set = nil)
      unless file_descriptor_set.nil? || file_descriptor_set.is_a?(String)
        raise TypeError, "file_descriptor_set must be a String of bytes or nil"
      end
      @run_mutex.synchronize do
        raise "cannot enable reflection once the server has been started" unless @running_state == :not_started
        pool = nil
        begin
          if file_descriptor_set
            pool = Native.polyrpc_descriptor_pool_create
            Native.polyrpc_descriptor_pool_add_file_set(pool, file_descriptor_set)
          end
          Native.polyrpc_server_enable_reflection(native, pool)
        rescue Native::Error => e
          raise ArgumentError, "cannot enable reflection: #{e.message}"
        ensure
          Native.polyrpc_descriptor_pool_destroy(pool) if pool
        end
      end
      self
    end

    # Starts serving and blocks until the server is stopped (by #stop from another thread, or
    # a signal: an Interrupt in this thread stops the server and is raised on).
    def run
      @run_mutex.synchronize do
        raise "cannot run without registering services" if @routes.empty?
        raise "the server was started already" unless @running_state == :not_started
        assert_same_process
        @routes.each_key { |route| Native.polyrpc_server_register_method(native, route) }
        Native.polyrpc_server_start(native)
        # Methods whose one request comes with the call (unary and server streaming).
        @read_first = Native::MethodSet.new(
          @routes.select { |_, (desc, *)| !desc.input.is_a?(RpcDesc::Stream) }.keys
        )
        @pool_size.times do |i|
          cq = Native.polyrpc_cq_create
          @cqs << cq
          t = Thread.new do
            Thread.current[:polyrpc_cq] = cq
            worker_loop(cq)
          end
          t.name = "polyrpc-server-#{i}" if t.respond_to?(:name=)
          t.report_on_exception = false
          @workers << t
        end
        @running_state = :running
        @run_cond.broadcast
      end
      begin
        @run_mutex.synchronize do
          @run_cond.wait(@run_mutex) until @running_state == :stopped
        end
      rescue Exception # rubocop:disable Lint/RescueException
        stop if running?
        raise
      end
      nil
    end
    alias run_till_terminated run

    # Runs until one of signals (["INT", "TERM"], names or numbers) arrives, then stops.
    def run_till_terminated_or_interrupted(signals, _wait_interval = 60)
      signals.each do |sig|
        name = sig.is_a?(String) ? sig.upcase.delete_prefix("SIG") : sig
        unless Signal.list.key?(name) || Signal.list.value?(name)
          raise ArgumentError, "#{sig} is not a valid signal"
        end
        Signal.trap(name) { stop }
      end
      run
    end

    # Stops: no new calls, calls in flight get poll_period seconds to finish, then they are
    # cancelled; returns once the handler threads are gone. Safe from a signal trap (it then
    # stops from a thread of its own) and from a handler.
    def stop
      begin
        @run_mutex.lock
      rescue ThreadError # a trap handler may not take a Mutex
        Thread.new { stop }
        return
      end
      begin
        raise "Cannot stop before starting" if @running_state == :not_started
        return if @running_state != :running
        @running_state = :stopping
      ensure
        @run_mutex.unlock
      end
      begin
        Native.server_shutdown_nogvl(native, (@poll_period * 1000).to_i)
      rescue Native::Error
        nil # already closed (polyrpc_shutdown at exit, or a forked child)
      end
      shutdown_workers
      @run_mutex.synchronize do
        @running_state = :stopped
        @run_cond.broadcast
      end
      nil
    end

    def running_state
      @run_mutex.synchronize { @running_state }
    end

    def running?
      running_state == :running
    end

    def stopped?
      running_state == :stopped
    end

    # Waits up to timeout seconds (nil: no limit) until the server runs; true if it does.
    def wait_till_running(timeout = nil)
      @run_mutex.synchronize do
        @run_cond.wait(@run_mutex, timeout) if @running_state == :not_started
        @running_state == :running
      end
    end

    private

    def native
      h = @holder[0]
      raise "the server was released" if h.nil?
      h
    end

    def assert_same_process
      return if @pid == Process.pid
      raise "this RpcServer was created before a fork: create the server in the process that runs it"
    end

    def create_native(args)
      opts = Native.polyrpc_options_create
      begin
        args.each do |k, v|
          case v
          when Integer then Native.polyrpc_options_set_int(opts, k.to_s, v)
          when true, false then Native.polyrpc_options_set_int(opts, k.to_s, v ? 1 : 0)
          when String, Symbol then Native.polyrpc_options_set_string(opts, k.to_s, v.to_s)
          else raise TypeError, "server argument #{k} must be an Integer, true/false or a String, not #{v.class}"
          end
        end
        Native.polyrpc_server_create(opts)
      ensure
        Native.polyrpc_options_destroy(opts)
      end
    end

    def next_tag
      @tag_mutex.synchronize { @next_tag += 1 }
    end

    # One handler thread, with a completion queue of its own: it asks for a call only while it
    # is idle, so a call never waits for a busy thread while another is free (the others wait
    # in polyrpc's queue until a thread asks), and its unblocking function (Thread#kill, the
    # VM's exit) wakes exactly this thread. A call arrives in one wait without the GVL, with
    # its request when it has only one; its answer is started without waiting.
    def worker_loop(cq)
      server = native
      tag = next_tag + 1 # > 1: tag 1 marks the answers on this queue
      request = true
      loop do
        result, call, method, msg, compressed =
          Native.server_next_call_nogvl(server, cq, tag, request, @read_first)
        case result
        when 1
          request = true
          serve(call, method, msg ? [msg, compressed] : [nil, false])
        when 0 # woken: the request stays pending
          request = false
        else
          break # the server or the queue shut down
        end
        break unless @running_state == :running
      end
    rescue Native::Error
      nil # the server was closed under us (polyrpc_shutdown at exit)
    end

    def shutdown_workers
      # The server's shutdown completed every pending request (success=0); shutting the
      # queues down makes their next wait return SHUTDOWN.
      @cqs.each do |cq|
        Native.polyrpc_cq_shutdown(cq)
        Native.polyrpc_cq_cancel_pending(cq)
        Native.polyrpc_cq_wake(cq)
      end
      deadline = Time.now + @keep_alive
      others = @workers.reject { |t| t.equal?(Thread.current) }
      others.each { |t| t.join([deadline - Time.now, 0].max) }
      others.each do |t|
        next unless t.alive?
        t.kill
        t.join(1)
      end
      @workers.clear
      return if others.size < @pool_size # a handler stopped us: the queues stay till exit
      @cqs.each do |cq|
        nil while Native.polyrpc_cq_next(cq, 0)[0] == Native::POLYRPC_EVENT_COMPLETE
        Native.polyrpc_cq_destroy(cq)
      end
      @cqs.clear
      h = @holder[0]
      @holder[0] = nil
      Native.polyrpc_server_destroy(h) if h
    end

    def serve(native_call, method, first)
      desc, handler, marshal, unmarshal = @routes[method]
      if desc.nil?
        Native.call_send_status_nogvl(native_call, UNIMPLEMENTED, "", nil)
        return
      end
      connect_md = nil
      connect_md = @connect_md_proc.call(method, Native.call_metadata_hash(native_call, 2)) if @connect_md_proc
      call = ServerCall.new(native_call, marshal, unmarshal, connect_md, Thread.current[:polyrpc_cq],
                            desc.input.is_a?(RpcDesc::Stream) ? nil : first)
      run_server_method(desc, call, handler)
    rescue StandardError => e
      PolyRPC.logger.warn("polyrpc server: #{e.class}: #{e.message}")
    ensure
      Native.polyrpc_call_destroy(native_call)
    end

    def run_server_method(desc, call, handler)
      ctx = @interceptors.empty? ? nil : @interceptors.build_context
      case desc.kind
      when :request_response
        req = call.read_unary_request
        intercept(ctx, :request_response, method: handler, call: call, request: req) do
          resp = handler.call(req, call)
          call.server_unary_response(resp, trailing_metadata: call.output_metadata)
        end
      when :client_streamer
        intercept(ctx, :client_streamer, method: handler, call: call) do
          resp = handler.call(call)
          call.server_unary_response(resp, trailing_metadata: call.output_metadata)
        end
      when :server_streamer
        req = call.read_unary_request
        intercept(ctx, :server_streamer, method: handler, call: call, request: req) do
          send_all(call, handler.call(req, call))
          call.send_status(OK, "", metadata: call.output_metadata)
        end
      else
        requests = call.each_remote_read
        intercept(ctx, :bidi_streamer, method: handler, call: call, requests: requests) do
          replies = handler.arity == 1 ? handler.call(requests) : handler.call(requests, call)
          send_all(call, replies)
          call.send_status(OK, "", metadata: call.output_metadata)
        end
      end
    rescue BadStatus => e
      safe_status(call, e.code, e.details, e.metadata)
    rescue StandardError, NotImplementedError => e
      PolyRPC.logger.warn("polyrpc server: handler of #{desc.name} failed: #{e.class}: #{e.message}")
      safe_status(call, UNKNOWN, "#{e.class}: #{e.message}", {})
    end

    def intercept(ctx, kind, **args, &blk)
      return blk.call if ctx.nil?
      ctx.intercept!(kind, args, &blk)
    end

    def send_all(call, replies)
      unless replies.respond_to?(:each)
        raise TypeError, "a streaming handler must return an Enumerable of responses, not #{replies.class}"
      end
      replies.each { |r| break unless call.remote_send(r) }
    end

    def safe_status(call, code, details, metadata)
      md = metadata.is_a?(Hash) ? metadata : {}
      call.send_status(code, details.nil? ? "" : details.to_s, metadata: md)
    rescue StandardError => e
      PolyRPC.logger.warn("polyrpc server: could not send status #{code}: #{e.class}: #{e.message}")
      begin
        call.send_status(code, details.to_s.scrub.delete("\0"), metadata: {})
      rescue StandardError
        nil
      end
    end
  end
end
