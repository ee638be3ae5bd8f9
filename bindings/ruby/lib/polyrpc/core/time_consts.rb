# frozen_string_literal: true

module PolyRPC
  module Core
    # Deadlines are absolute Times, as in the grpc gem. TimeConsts.from_relative_time turns a
    # relative timeout in seconds into one; INFINITE_FUTURE means no deadline.
    module TimeConsts
      ZERO = Time.at(0).freeze
      INFINITE_FUTURE = Time.at(2**62).freeze
      INFINITE_PAST = Time.at(-2**62).freeze

      # nil and 0: ZERO (already expired); < 0: INFINITE_FUTURE; a Numeric: that many seconds
      # from now; a Time: itself.
      def from_relative_time(timeish)
        if timeish.is_a?(Time)
          timeish
        elsif timeish.nil?
          ZERO
        elsif !timeish.is_a?(Numeric)
          raise TypeError, "Cannot make an absolute deadline from #{timeish.inspect}"
        elsif timeish.negative?
          INFINITE_FUTURE
        elsif timeish.zero?
          ZERO
        else
          Time.now + timeish
        end
      end
      module_function :from_relative_time

      # Milliseconds from now until deadline, as the C ABI takes them: -1 for no deadline
      # (nil or INFINITE_FUTURE), 0 once it has passed.
      def self.timeout_ms(deadline)
        return -1 if deadline.nil? || deadline.equal?(INFINITE_FUTURE)
        unless deadline.is_a?(Time)
          raise TypeError, "deadline must be a Time (absolute), not #{deadline.class}; " \
                           "use Time.now + seconds"
        end
        return -1 if deadline >= INFINITE_FUTURE
        ms = ((deadline - Time.now) * 1000).ceil
        ms.negative? ? 0 : ms
      end
    end
  end
end
