# frozen_string_literal: true

module PolyRPC
  # Base of every interceptor, as GRPC::Interceptor: options from the constructor.
  class Interceptor
    def initialize(options = {})
      @options = options || {}
    end
  end

  # A client interceptor, as GRPC::ClientInterceptor: override the kinds you intercept and
  # yield to go on with the call (the block's value is the call's result). metadata is the Hash
  # that will be sent: add to it to send more; call has #deadline.
  class ClientInterceptor < Interceptor
    def request_response(request: nil, call: nil, method: nil, metadata: nil)
      yield
    end

    def client_streamer(requests: nil, call: nil, method: nil, metadata: nil)
      yield
    end

    def server_streamer(request: nil, call: nil, method: nil, metadata: nil)
      yield
    end

    def bidi_streamer(requests: nil, call: nil, method: nil, metadata: nil)
      yield
    end
  end

  # A server interceptor, as GRPC::ServerInterceptor: call is the handler's call view
  # (metadata, output_metadata, ...); method the handler's Method. Raising a BadStatus ends the
  # call with that status.
  class ServerInterceptor < Interceptor
    def request_response(request: nil, call: nil, method: nil)
      yield
    end

    def client_streamer(call: nil, method: nil)
      yield
    end

    def server_streamer(request: nil, call: nil, method: nil)
      yield
    end

    def bidi_streamer(requests: nil, call: nil, method: nil)
      yield
    end
  end

  # Runs a chain of interceptors around a call, as GRPC::InterceptionContext (the last
  # interceptor given is the outermost).
  class InterceptionContext
    def initialize(interceptors = [])
      @interceptors = interceptors.dup
    end

    def intercept!(type, args = {}, &blk)
      return yield if @interceptors.empty?
      i = @interceptors.pop
      i.public_send(type, **args) do
        @interceptors.empty? ? yield : intercept!(type, args, &blk)
      end
    end
  end

  # The interceptors of a stub or server, checked once, as GRPC::InterceptorRegistry.
  class InterceptorRegistry
    class DescendantError < StandardError; end

    def initialize(interceptors = [])
      @interceptors = Array(interceptors).map do |i|
        unless i.is_a?(Interceptor)
          raise DescendantError, "Interceptors must descend from #{Interceptor} (got #{i.class})"
        end
        i
      end.freeze
    end

    def empty?
      @interceptors.empty?
    end

    def build_context
      InterceptionContext.new(@interceptors)
    end
  end
end
