# frozen_string_literal: true

module PolyRPC
  # The service DSL, as GRPC::GenericService: include it in a class, declare the methods, and
  # implement each one as its snake_case name:
  #
  #   class Greeter
  #     include PolyRPC::GenericService
  #     self.marshal_class_method = :encode     # google-protobuf's names
  #     self.unmarshal_class_method = :decode
  #     self.service_name = "helloworld.Greeter"
  #     rpc :SayHello, HelloRequest, HelloReply
  #     rpc :Chat, stream(Note), stream(Note)
  #   end
  #   Stub = Greeter.rpc_stub_class
  #
  # Handlers: unary and server streaming `(req, call)`, client streaming `(call)` (read with
  # call.each_remote_read), bidi `(requests)` or `(requests, call)`; streams return an
  # Enumerable of responses. Not implemented methods answer UNIMPLEMENTED.
  module GenericService
    # "SayHello" -> "say_hello".
    def self.underscore(s)
      s = +s.to_s
      s.gsub!(/([A-Z]+)([A-Z][a-z])/, '\1_\2')
      s.gsub!(/([a-z\d])([A-Z])/, '\1_\2')
      s.tr!("-", "_")
      s.downcase!
      s
    end

    class DuplicateRpcName < StandardError
      def initialize(name)
        super("rpc (#{name}) is already defined")
      end
    end

    # The class methods of a service.
    module Dsl
      attr_writer :marshal_class_method, :unmarshal_class_method
      attr_accessor :service_name

      # Method names an rpc may not take: the handler or stub method would replace one that
      # every Ruby object, or every stub, needs (`rpc :Hash` would break the object in any Hash).
      TAKEN = (Object.public_instance_methods + ClientStub.public_instance_methods(false) +
               %i[initialize]).map(&:to_s).freeze

      def rpc(name, input, output)
        raise DuplicateRpcName, name if rpc_descs.key?(name)
        method_name = GenericService.underscore(name.to_s)
        if TAKEN.include?(method_name)
          raise ArgumentError, "rpc #{name} would define the method #{method_name}, which every " \
                               "Ruby object or stub needs; rename the rpc"
        end
        assert_can_marshal(input)
        assert_can_marshal(output)
        rpc_descs[name] = RpcDesc.new(name, input, output, marshal_class_method,
                                      unmarshal_class_method)
        define_method(GenericService.underscore(name.to_s).to_sym) do |*|
          raise BadStatus.new_status_exception(Core::StatusCodes::UNIMPLEMENTED)
        end
      end

      def inherited(subclass)
        super
        subclass.rpc_descs.merge!(rpc_descs)
        subclass.service_name = service_name
      end

      def marshal_class_method
        @marshal_class_method ||= :marshal
      end

      def unmarshal_class_method
        @unmarshal_class_method ||= :unmarshal
      end

      def assert_can_marshal(cls)
        cls = cls.type if cls.is_a?(RpcDesc::Stream)
        [unmarshal_class_method, marshal_class_method].each do |mth|
          raise ArgumentError, "#{cls} needs #{cls}.#{mth}" unless cls.respond_to?(mth)
        end
      end

      def stream(cls)
        assert_can_marshal(cls)
        RpcDesc::Stream.new(cls)
      end

      def rpc_descs
        @rpc_descs ||= {}
      end

      # A ClientStub subclass with one method per rpc: stub.say_hello(req, deadline:,
      # metadata:, return_op:, credentials:).
      def rpc_stub_class
        descs = rpc_descs
        route_prefix = service_name
        Class.new(ClientStub) do
          def initialize(host, creds, **kw)
            super(host, creds, **kw)
          end

          descs.each_pair do |name, desc|
            mth_name = GenericService.underscore(name.to_s).to_sym
            marshal = desc.marshal_proc(:input)
            unmarshal = desc.unmarshal_proc(:output)
            route = "/#{route_prefix}/#{name}"
            if desc.request_response?
              define_method(mth_name) do |req, metadata = {}|
                request_response(route, req, marshal, unmarshal, **metadata)
              end
            elsif desc.client_streamer?
              define_method(mth_name) do |reqs, metadata = {}|
                client_streamer(route, reqs, marshal, unmarshal, **metadata)
              end
            elsif desc.server_streamer?
              define_method(mth_name) do |req, metadata = {}, &blk|
                server_streamer(route, req, marshal, unmarshal, **metadata, &blk)
              end
            else
              define_method(mth_name) do |reqs, metadata = {}, &blk|
                bidi_streamer(route, reqs, marshal, unmarshal, **metadata, &blk)
              end
            end
          end
        end
      end
    end

    def self.included(o)
      o.extend(Dsl)
      return unless o.service_name.nil?
      if o.name.nil?
        o.service_name = "GenericService"
      else
        modules = o.name.split("::")
        o.service_name = modules.length > 2 ? modules[modules.length - 2] : modules.first
      end
    end
  end
end
