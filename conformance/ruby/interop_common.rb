# frozen_string_literal: true

# Shared by the Ruby interop client and server: the generated grpc.testing code (built into
# build/conformance/ruby/gen, or POLYRPC_RUBY_GEN_DIR), the standard interop flags, TLS files.
require "polyrpc"

module Interop
  ROOT = File.expand_path("../..", __dir__)
  GEN_DIR = ENV.fetch("POLYRPC_RUBY_GEN_DIR", File.join(ROOT, "build", "conformance", "ruby", "gen"))
  unless File.exist?(File.join(GEN_DIR, "grpc", "testing", "test_services_pb.rb"))
    abort "conformance/ruby: no generated grpc.testing code in #{GEN_DIR} " \
          "(tools/locked cmake --build build -j2 --target polyrpc_ruby_interop_protos)"
  end
  $LOAD_PATH.unshift(GEN_DIR)
  require "grpc/testing/test_services_pb"

  T = Grpc::Testing

  # --name=value flags (and --name for true) into a Hash with the types of the defaults.
  def self.parse_flags(argv, defaults)
    flags = defaults.dup
    argv.each do |arg|
      m = /\A--([a-z_]+)(?:=(.*))?\z/.match(arg) or raise ArgumentError, "bad flag #{arg}"
      key = m[1].to_sym
      raise ArgumentError, "unknown flag --#{m[1]}" unless flags.key?(key)
      value = m[2]
      flags[key] = case defaults[key]
                   when true, false then value.nil? || value == "true"
                   when Integer then Integer(value)
                   else value.to_s
                   end
    end
    flags
  end

  def self.default_cert_dir
    File.join(ROOT, "build", "certs")
  end

  def self.read_cert(dir, name)
    File.read(File.join(dir, name))
  end

  def self.zeros(n)
    ("\0" * n).b
  end
end
