# frozen_string_literal: true

# polyrpc for Ruby: gRPC clients and servers over libpolyrpc, with the grpc gem's API under
# PolyRPC (ClientStub, GenericService, RpcServer, BadStatus, interceptors, credentials).
# docs/ruby.md has the guide.
require "forwardable"
require_relative "polyrpc/version"
require_relative "polyrpc/native"
require_relative "polyrpc/logconfig"
require_relative "polyrpc/core/status_codes"
require_relative "polyrpc/core/time_consts"
require_relative "polyrpc/errors"
require_relative "polyrpc/core/credentials"
require_relative "polyrpc/core/channel"
require_relative "polyrpc/generic/interceptors"
require_relative "polyrpc/generic/active_call"
require_relative "polyrpc/generic/client_stub"
require_relative "polyrpc/generic/rpc_desc"
require_relative "polyrpc/generic/service"
require_relative "polyrpc/generic/server_call"
require_relative "polyrpc/generic/rpc_server"
require_relative "polyrpc/generic/health_service"
