# frozen_string_literal: true

module PolyRPC
  module Core
    # TLS credentials of a channel, as GRPC::Core::ChannelCredentials:
    #   ChannelCredentials.new                      # TLS, the system's CA bundle
    #   ChannelCredentials.new(root_pem)            # TLS, these CAs
    #   ChannelCredentials.new(root_pem, key, cert) # mutual TLS with a client certificate
    # Plaintext is the symbol :this_channel_is_insecure instead. #compose adds call credentials.
    class ChannelCredentials
      attr_reader :call_credentials # :nodoc:

      def initialize(pem_root_certs = nil, private_key = nil, cert_chain = nil)
        [pem_root_certs, private_key, cert_chain].each do |pem|
          next if pem.nil? || pem.is_a?(String)
          raise TypeError, "PEM arguments must be Strings or nil, not #{pem.class}"
        end
        if private_key.nil? != cert_chain.nil?
          raise ArgumentError, "a client certificate needs both private_key and cert_chain"
        end
        @pem = [pem_root_certs, private_key, cert_chain].map { |s| s&.dup&.freeze }.freeze
        @call_credentials = nil
        # Parsed now, so that a bad PEM fails here and not at the first call.
        native = Native.polyrpc_channel_credentials_create_tls(@pem[0], @pem[2], @pem[1])
        Native.polyrpc_channel_credentials_destroy(native)
      rescue Native::Error => e
        raise ArgumentError, "invalid TLS credentials: #{e.message}"
      end

      # New channel credentials that also send the metadata of every call credentials given.
      def compose(*call_creds)
        call_creds.each do |c|
          raise TypeError, "compose takes CallCredentials, not #{c.class}" unless c.is_a?(CallCredentials)
        end
        composed = dup
        all = [@call_credentials, *call_creds].compact
        composed.instance_variable_set(:@call_credentials, CallCredentials.combine(all))
        composed
      end

      def native_create # :nodoc: a new polyrpc_channel_credentials_t, owned by the caller
        Native.polyrpc_channel_credentials_create_tls(@pem[0], @pem[2], @pem[1])
      end
    end

    # TLS credentials of a listener, as GRPC::Core::ServerCredentials:
    #   ServerCredentials.new(client_ca_pem_or_nil, [{private_key: key, cert_chain: cert}],
    #                         force_client_auth = false)
    # Plaintext is the symbol :this_port_is_insecure instead.
    class ServerCredentials
      def initialize(pem_root_certs, key_cert_pairs, force_client_auth = false)
        unless pem_root_certs.nil? || pem_root_certs.is_a?(String)
          raise TypeError, "pem_root_certs must be a String or nil, not #{pem_root_certs.class}"
        end
        unless key_cert_pairs.is_a?(Array) && key_cert_pairs.size == 1 && key_cert_pairs[0].is_a?(Hash)
          raise ArgumentError, "key_cert_pairs must be [{private_key: PEM, cert_chain: PEM}] " \
                               "(polyrpc serves one certificate per listener)"
        end
        pair = key_cert_pairs[0]
        key = pair[:private_key] || pair["private_key"]
        cert = pair[:cert_chain] || pair["cert_chain"]
        unless key.is_a?(String) && cert.is_a?(String)
          raise ArgumentError, "key_cert_pairs needs :private_key and :cert_chain Strings"
        end
        if force_client_auth && pem_root_certs.nil?
          raise ArgumentError, "force_client_auth needs pem_root_certs to verify clients with"
        end
        @args = [cert.dup.freeze, key.dup.freeze, pem_root_certs&.dup&.freeze, force_client_auth ? 1 : 0].freeze
        Native.polyrpc_server_credentials_destroy(native_create)
      rescue Native::Error => e
        raise ArgumentError, "invalid TLS credentials: #{e.message}"
      end

      def native_create # :nodoc:
        Native.polyrpc_server_credentials_create_tls(*@args)
      end
    end

    # Per-call metadata from a proc, as GRPC::Core::CallCredentials: the proc receives
    # {jwt_aud_uri: "https://host/package.Service", method_name: "Method"} and returns a Hash
    # of metadata to add to the call ("authorization" => "Bearer ..."). Sent only on TLS
    # channels, as gRPC does. Given to a stub call (credentials:) or composed into channel
    # credentials (ChannelCredentials#compose).
    class CallCredentials
      def initialize(proc_or_callable = nil, &block)
        callable = proc_or_callable || block
        raise TypeError, "CallCredentials needs a Proc (or a block)" unless callable.respond_to?(:call)
        @procs = [callable].freeze
      end

      def compose(*others)
        others.each do |c|
          raise TypeError, "compose takes CallCredentials, not #{c.class}" unless c.is_a?(CallCredentials)
        end
        CallCredentials.combine([self, *others])
      end

      def self.combine(list) # :nodoc:
        return nil if list.empty?
        return list[0] if list.size == 1
        combined = allocate
        combined.instance_variable_set(:@procs, list.flat_map(&:procs).freeze)
        combined
      end

      def procs # :nodoc:
        @procs
      end

      # The metadata for one call: every proc's Hash merged. A proc that raises or returns
      # something else than a Hash fails the call with UNAVAILABLE, as gRPC does.
      def metadata_for(host, path) # :nodoc:
        service, method_name = path.delete_prefix("/").split("/", 2)
        ctx = { jwt_aud_uri: "https://#{host}/#{service}", method_name: method_name }
        @procs.each_with_object({}) do |p, md|
          got = begin
            p.call(ctx)
          rescue StandardError => e
            raise Unavailable.new("Getting metadata from plugin failed with error: #{e.class}: #{e.message}")
          end
          unless got.is_a?(Hash)
            raise Unavailable.new("Getting metadata from plugin failed: the proc returned #{got.class}, not a Hash")
          end
          got.each { |k, v| md[k.to_s] = v }
        end
      end
    end
  end
end
