# frozen_string_literal: true

module PolyRPC
  # One method of a service: name, input and output classes (wrapped in Stream for streams),
  # and the names of the class methods that (un)marshal them, as GRPC::RpcDesc.
  class RpcDesc < Struct.new(:name, :input, :output, :marshal_method, :unmarshal_method)
    include Core::StatusCodes

    # Marks a streamed type in the rpc DSL (`stream(Req)`).
    class Stream
      attr_accessor :type

      def initialize(type)
        @type = type
      end
    end

    # A proc that marshals a message of target's class (:input on clients, :output on servers;
    # nil: whatever class the message has, as the grpc gem does). A message it cannot marshal
    # is a TypeError that names both classes.
    def marshal_proc(target = nil)
      m = marshal_method
      cls = target && public_send(target)
      cls = cls.type if cls.is_a?(Stream)
      proc do |o|
        (cls || o.class).public_send(m, o).to_s
      rescue ArgumentError, TypeError, NoMethodError => e
        raise TypeError, "#{name}: cannot marshal a #{o.class} as #{cls || o.class} (#{e.message})"
      end
    end

    def unmarshal_proc(target)
      raise ArgumentError, "target must be :input or :output" unless %i[input output].include?(target)
      cls = public_send(target)
      cls = cls.type if cls.is_a?(Stream)
      m = unmarshal_method
      proc { |o| cls.public_send(m, o) }
    end

    def request_response?
      !input.is_a?(Stream) && !output.is_a?(Stream)
    end

    def client_streamer?
      input.is_a?(Stream) && !output.is_a?(Stream)
    end

    def server_streamer?
      !input.is_a?(Stream) && output.is_a?(Stream)
    end

    def bidi_streamer?
      input.is_a?(Stream) && output.is_a?(Stream)
    end

    def kind
      if request_response? then :request_response
      elsif client_streamer? then :client_streamer
      elsif server_streamer? then :server_streamer
      else :bidi_streamer
      end
    end

    # Raises if the handler mth takes the wrong arguments for this kind.
    def assert_arity_matches(mth)
      if bidi_streamer?
        return if [1, 2].include?(mth.arity)
        raise arity_error(mth, 2, "should be #{mth.name}(req, call) or #{mth.name}(req)")
      elsif request_response? || server_streamer?
        return if mth.arity == 2
        raise arity_error(mth, 2, "should be #{mth.name}(req, call)")
      else
        return if mth.arity == 1
        raise arity_error(mth, 1, "should be #{mth.name}(call)")
      end
    end

    private

    def arity_error(mth, want, msg)
      "##{mth.name}: bad arg count; got:#{mth.arity}, want:#{want}, #{msg}"
    end
  end
end
