# frozen_string_literal: true

require_relative "core/status_codes"

module PolyRPC
  # How a call ended: code, details (the status message), metadata (trailers), as the grpc gem's
  # Struct::Status.
  Status = Struct.new(:code, :details, :metadata, :debug_error_string)

  # A call that ended with a status other than OK, on the client; raised by a server handler, the
  # status the client gets. As GRPC::BadStatus: one subclass per code (PolyRPC::NotFound, ...).
  class BadStatus < StandardError
    attr_reader :code, :details, :metadata, :debug_error_string

    include Core::StatusCodes

    def initialize(code, details = "unknown cause", metadata = {}, debug_error_string = nil)
      message = +"#{code}:#{details}"
      message << ". debug_error_string:{#{debug_error_string}}" if debug_error_string
      super(message)
      @code = code
      @details = details
      @metadata = metadata
      @debug_error_string = debug_error_string
    end

    def to_status
      Status.new(code, details, metadata, debug_error_string)
    end

    # The subclass for code (BadStatus itself for a code outside 0..16).
    def self.new_status_exception(code, details = "unknown cause", metadata = {},
                                  debug_error_string = nil)
      klass = CODE_CLASSES[code]
      return BadStatus.new(code, details, metadata, debug_error_string) if klass.nil?
      klass.new(details, metadata, debug_error_string)
    end
  end

  CODE_CLASSES = {}
  {
    Ok: :OK, Cancelled: :CANCELLED, Unknown: :UNKNOWN, InvalidArgument: :INVALID_ARGUMENT,
    DeadlineExceeded: :DEADLINE_EXCEEDED, NotFound: :NOT_FOUND, AlreadyExists: :ALREADY_EXISTS,
    PermissionDenied: :PERMISSION_DENIED, ResourceExhausted: :RESOURCE_EXHAUSTED,
    FailedPrecondition: :FAILED_PRECONDITION, Aborted: :ABORTED, OutOfRange: :OUT_OF_RANGE,
    Unimplemented: :UNIMPLEMENTED, Internal: :INTERNAL, Unavailable: :UNAVAILABLE,
    DataLoss: :DATA_LOSS, Unauthenticated: :UNAUTHENTICATED
  }.each do |class_name, code_name|
    code = Core::StatusCodes.const_get(code_name)
    klass = Class.new(BadStatus) do
      define_method(:initialize) do |details = "unknown cause", metadata = {}, debug_error_string = nil|
        super(code, details, metadata, debug_error_string)
      end
    end
    const_set(class_name, klass)
    CODE_CLASSES[code] = klass
  end
  CODE_CLASSES.freeze

  module Core
    # Misuse of a call object (running it twice, writing after the end), as GRPC::Core::CallError.
    class CallError < StandardError; end
  end
end
