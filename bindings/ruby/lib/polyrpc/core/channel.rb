# frozen_string_literal: true

module PolyRPC
  module Core
    # Connectivity states, as GRPC::Core::ConnectivityStates.
    module ConnectivityStates
      IDLE = 0
      CONNECTING = 1
      READY = 2
      TRANSIENT_FAILURE = 3
      FATAL_FAILURE = 4 # the grpc gem's name for SHUTDOWN
      SHUTDOWN = 4
    end

    # A client channel to one target, as GRPC::Core::Channel.new(target, channel_args, creds):
    # creds is :this_channel_is_insecure or a ChannelCredentials; channel_args are gRPC channel
    # arguments ("grpc.max_receive_message_length" => 1 << 20, "grpc.ssl_target_name_override"
    # => "foo.test.google.fr", ...). Thread-safe; connects lazily.
    #
    # Fork-safe with no user action: a channel used in a forked child reopens its connection
    # there (the parent's stays the parent's), so a master process may build stubs before it
    # forks its workers.
    class Channel
      SSL_TARGET = "grpc.ssl_target_name_override"
      USER_AGENT = "grpc.primary_user_agent"

      attr_reader :target, :channel_args, :call_credentials

      def initialize(target, channel_args, creds)
        raise TypeError, "target must be a String, not #{target.class}" unless target.is_a?(String)
        channel_args ||= {}
        raise TypeError, "channel_args must be a Hash, not #{channel_args.class}" unless channel_args.is_a?(Hash)
        @secure = case creds
                  when :this_channel_is_insecure then false
                  when ChannelCredentials then true
                  else
                    raise TypeError, "creds must be :this_channel_is_insecure or a " \
                                     "PolyRPC::Core::ChannelCredentials, not #{creds.inspect}"
                  end
        @target = target.dup.freeze
        @creds = creds
        @call_credentials = @secure ? creds.call_credentials : nil
        args = channel_args.transform_keys(&:to_s)
        ua = args[USER_AGENT]
        args[USER_AGENT] = [ua, "polyrpc-ruby/#{VERSION}"].compact.join(" ")
        @channel_args = args.freeze
        @host = args[SSL_TARGET] || args["grpc.default_authority"] || target.sub(%r{\A[a-z0-9]+:(///)?}, "")
        @lock = Mutex.new
        @closed = false
        @holder = [nil, nil] # the channel, and its connection without busy polling (lazily)
        @fixed_poll = args.key?("polyrpc.busy_poll_us")
        PolyRPC.note_use
        ObjectSpace.define_finalizer(self, Channel.finalizer(@holder))
        @lock.synchronize { open_native }
      end

      def secure?
        @secure
      end

      # The host calls are addressed to (the TLS name override if given): for call credentials.
      attr_reader :host

      # The polyrpc_channel_t of this process: made again after a fork (the parent's handle is
      # released in the child, where it is unusable).
      #
      # A thread that waits for a call alone busy-polls for the answer (libpolyrpc's adaptive
      # default: the lowest latency). While other threads of the process wait in calls too (or
      # did in the last 50 ms), a second connection of this channel without busy polling (polyrpc.busy_poll_us = 0)
      # carries the call: several threads polling at once would take the CPU the answers and
      # the GVL's holder need (on 2 vCPUs, 4 threads made 1.3x fewer calls with it). Not when
      # the channel arguments set polyrpc.busy_poll_us themselves.
      def native(for_call = true) # :nodoc:
        if @pid == Process.pid && !@closed
          return @holder[0] if !for_call || @fixed_poll || !Native.waits_in_flight
          return @holder[1] || native_quiet
        end
        @lock.synchronize do
          raise Native::Error, "the channel is closed" if @closed
          open_native unless @pid == Process.pid
          @holder[0]
        end
      end

      # Current connectivity state (ConnectivityStates); try_to_connect starts connecting from
      # IDLE.
      def connectivity_state(try_to_connect = false)
        return ConnectivityStates::SHUTDOWN if @closed
        Native.polyrpc_channel_get_state(native(false), try_to_connect ? 1 : 0)
      end

      # Waits (without the GVL, interruptibly) until the state differs from last_state or the
      # deadline (a Time, or seconds from now) passes. Returns true if the state changed.
      def watch_connectivity_state(last_state, deadline)
        ms = deadline.is_a?(Numeric) ? (deadline * 1000).ceil : TimeConsts.timeout_ms(deadline)
        cq = Native.polyrpc_cq_create
        begin
          Native.polyrpc_channel_watch_state(native(false), last_state, ms, cq, 1)
          loop do
            type, _tag, success = Native.cq_next_nogvl(cq, -1)
            return success == 1 if type == Native::POLYRPC_EVENT_COMPLETE
          end
        ensure
          # Any pending watch completes now (success=0); the queue is then empty.
          Native.polyrpc_cq_shutdown(cq)
          Native.polyrpc_cq_cancel_pending(cq)
          nil while Native.polyrpc_cq_next(cq, 0)[0] == Native::POLYRPC_EVENT_COMPLETE
          Native.polyrpc_cq_destroy(cq)
        end
      end

      # Cancels every call and closes the connection; calls made afterwards fail (UNAVAILABLE).
      def close
        @lock.synchronize do
          return if @closed
          @closed = true
          @holder.each { |h| Native.channel_close_nogvl(h) if h && @pid == Process.pid }
        end
        nil
      end

      def self.finalizer(holder) # :nodoc:
        proc do
          holder.each_index do |i|
            h = holder[i]
            holder[i] = nil
            Native.polyrpc_channel_destroy(h) if h
          end
        end
      end
      alias destroy close

      def closed?
        @closed
      end

      def inspect
        "#<#{self.class} #{@target}#{@secure ? ' tls' : ''}>"
      end

      private

      def native_quiet
        @lock.synchronize do
          raise Native::Error, "the channel is closed" if @closed
          @holder[1] ||= create_native(@channel_args.merge("polyrpc.busy_poll_us" => 0))
        end
      end

      def open_native
        @holder.each_index do |i|
          old = @holder[i]
          @holder[i] = nil
          Native.polyrpc_channel_destroy(old) if old # a parent's handle, in a child: released only
        end
        @holder[0] = create_native(@channel_args)
        @pid = Process.pid
        PolyRPC.park_thread # a forked child has none yet
      end

      def create_native(channel_args)
        creds = @secure ? @creds.native_create : Native.polyrpc_channel_credentials_create_insecure
        opts = Native.polyrpc_options_create
        begin
          channel_args.each do |k, v|
            case v
            when Integer then Native.polyrpc_options_set_int(opts, k, v)
            when true, false then Native.polyrpc_options_set_int(opts, k, v ? 1 : 0)
            when String, Symbol then Native.polyrpc_options_set_string(opts, k, v.to_s)
            else
              raise TypeError, "channel argument #{k} must be an Integer, true/false or a String, not #{v.class}"
            end
          end
          Native.polyrpc_channel_create(@target, creds, opts)
        rescue Native::Error => e
          raise ArgumentError, "cannot create a channel to #{@target}: #{e.message}" if e.code == Native::POLYRPC_ERROR_INVALID_ARGUMENT
          raise
        ensure
          Native.polyrpc_options_destroy(opts)
          Native.polyrpc_channel_credentials_destroy(creds)
        end
      end
    end
  end
end
