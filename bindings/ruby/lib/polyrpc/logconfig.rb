# frozen_string_literal: true

require "logger"

module PolyRPC
  @logger = Logger.new($stderr, level: Logger::ERROR, progname: "polyrpc")

  class << self
    # Where polyrpc reports what it cannot raise (a handler that failed, a status that could
    # not be sent): a Logger on $stderr at level ERROR unless you set your own, as GRPC.logger.
    attr_accessor :logger
  end
end
