# frozen_string_literal: true

require_relative "lib/polyrpc/version"

Gem::Specification.new do |s|
  s.name = "polyrpc"
  s.version = PolyRPC::VERSION
  s.summary = "gRPC for Ruby over libpolyrpc, with the grpc gem's API"
  s.description = <<~DESC
    Clients and servers that speak gRPC, shaped like the grpc gem (ClientStub, GenericService,
    RpcServer, BadStatus, interceptors), over libpolyrpc's C ABI: every wait without the GVL
    and interruptible, channels that survive fork, a small native part (a SWIG wrapper) that
    builds in seconds against an installed libpolyrpc (pkg-config polyrpc).
  DESC
  s.authors = ["polyrpc developers"]
  s.license = "Apache-2.0"
  s.homepage = "https://github.com/polyrpc/polyrpc"
  s.required_ruby_version = ">= 2.7"
  s.files = Dir["lib/**/*.rb"] + %w[
    ext/polyrpc_native/extconf.rb
    ext/polyrpc_native/polyrpc_ruby.c
    ext/polyrpc_native/polyrpc_native_wrap.c
  ]
  s.extensions = ["ext/polyrpc_native/extconf.rb"]
  s.require_paths = ["lib"]
  s.add_runtime_dependency "google-protobuf", ">= 3.21"
end
