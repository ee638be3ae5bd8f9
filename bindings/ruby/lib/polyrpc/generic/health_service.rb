# frozen_string_literal: true

module PolyRPC
  # The health statuses of a server, from RpcServer#enable_health: the core serves
  # grpc.health.v1.Health (Check and Watch) itself, and #set changes a status at any time, from
  # any thread (every Watch of that service hears it at once). The server as a whole is "": it
  # starts SERVING; other services have no status (Check answers NOT_FOUND) until set. When the
  # server stops, every status turns NOT_SERVING and later changes are ignored.
  #
  #   health = server.enable_health
  #   health.set("helloworld.Greeter", :NOT_SERVING)
  class HealthService
    # grpc.health.v1.HealthCheckResponse.ServingStatus (the grpc gem's
    # Grpc::Health::V1::HealthCheckResponse::ServingStatus values).
    STATUSES = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 }.freeze

    def initialize(server)
      @server = server
    end

    # status: :SERVING, :NOT_SERVING, :UNKNOWN, :SERVICE_UNKNOWN (forgets the service), their
    # names as Strings, or their Integer values.
    def set(service, status)
      raise TypeError, "service must be a String, not #{service.class}" unless service.is_a?(String)
      value = case status
              when Integer then status
              when Symbol, String then STATUSES.fetch(status.to_sym.upcase) { raise ArgumentError, "unknown status #{status}" }
              else raise TypeError, "status must be a Symbol or an Integer, not #{status.class}"
              end
      raise ArgumentError, "unknown status #{status}" unless STATUSES.value?(value)
      Native.polyrpc_server_set_health_status(@server.send(:native), service, value)
      nil
    end

    # Forgets service: Check answers NOT_FOUND, Watch reports SERVICE_UNKNOWN.
    def clear(service)
      set(service, :SERVICE_UNKNOWN)
    end
  end
end
