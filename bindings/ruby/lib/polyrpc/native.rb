# frozen_string_literal: true

# The native layer: PolyRPC::Native, the SWIG wrapper of libpolyrpc's C ABI
# (bindings/swig/polyrpc.i) plus the hand-written GVL-free waits
# (ext/polyrpc_native/polyrpc_ruby.c). Everything above it is plain Ruby.
require "polyrpc/polyrpc_native"

module PolyRPC
  # Version of the loaded libpolyrpc ("0.2.0").
  def self.library_version
    Native.polyrpc_version
  end

  # Native handles are released by finalizers that hold only the handle (never the Ruby object
  # that owns it), so objects may be collected in any order: the C ABI's children keep their
  # parents alive.
  module NativeHandle # :nodoc:
    module_function

    # A proc for ObjectSpace.define_finalizer that destroys holder[0] with destroy (a
    # PolyRPC::Native function name) unless it was released already.
    def finalizer(holder, destroy)
      proc do
        handle = holder[0]
        holder[0] = nil
        Native.public_send(destroy, handle) if handle
      end
    end
  end

  # Stops the library: what the at_exit hook runs (in the parent and in every forked child).
  # Closes channels and servers and stops libpolyrpc's I/O threads, so that no exit waits for
  # one. Objects made before stay valid and report that they are closed; the next channel or
  # server starts the library again.
  def self.shutdown(timeout: 0)
    Native.shutdown_nogvl((timeout * 1000).to_i)
    nil
  end

  @first_use_pid = nil
  @park_pid = nil
  @park_mutex = Mutex.new

  # Called by every channel and server: the process that first used the library.
  def self.note_use # :nodoc:
    @first_use_pid ||= Process.pid
    park_thread
  end

  # A Ruby thread that only sleeps, one per process. While a process has a single Ruby thread,
  # Ruby 3.1 runs its signal handling on every GVL release of that thread (a wake-up of the
  # timer thread, a ppoll and a pipe write per wait), which doubled a unary call's time in our
  # measurements (docs/performance.md#ruby); a sleeping thread takes that work over, as the
  # grpc gem's own background thread does in every process that loads it. Made again in a
  # forked child (threads do not survive fork).
  def self.park_thread # :nodoc:
    return if @park_pid == Process.pid
    @park_mutex.synchronize do
      return if @park_pid == Process.pid
      t = Thread.new { sleep }
      t.name = "polyrpc-park"
      t.report_on_exception = false
      @park_pid = Process.pid
    end
  end

  # True in a forked child of a process that used the library: the parent's channels and
  # servers are then in this process's libpolyrpc too, unusable here.
  def self.inherited_objects? # :nodoc:
    !@first_use_pid.nil? && @first_use_pid != Process.pid
  end

  # At exit: stop the library, so that no exit waits for an I/O thread. Not in a forked child
  # of a process that used it: there, libpolyrpc 0.2's polyrpc_shutdown() also tries to end
  # the parent's objects, on I/O loops that have no thread in the child: it waits forever for
  # a parent's listener to close, and 2 s for each parent's channel. The child's own I/O
  # threads do not hold its exit, so leaving the library running there is safe.
  at_exit do
    begin
      PolyRPC.shutdown(timeout: 0) unless PolyRPC.inherited_objects?
    rescue StandardError # rubocop:disable Lint/SuppressedException
    end
  end
end
