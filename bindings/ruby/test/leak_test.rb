# frozen_string_literal: true

require_relative "test_helper"

# Native objects do not pile up: many calls of every kind, failing ones, cancelled ones and
# abandoned streams leave the process's resident memory flat once warmed up.
class LeakTest < PolyTest
  def rss_kib
    File.read("/proc/self/status")[/^VmRSS:\s+(\d+)/, 1].to_i
  end

  def settle
    3.times { GC.start(full_mark: true, immediate_sweep: true) }
    rss_kib
  end

  def round(stub, n)
    n.times do |i|
      stub.unary(Req.new(message: "u#{i}"), metadata: { "k" => "v" })
      begin
        stub.unary(Req.new(code: 5))
      rescue PolyRPC::NotFound
        nil
      end
      stub.expand(Req.new(repeat: 3)).to_a
      stub.collect([Req.new, Req.new])
      stub.chat([Req.new(message: "c")]).to_a if i.even? # a writer thread each: half as many
      e = stub.expand(Req.new(repeat: 50))
      e.next # abandoned half way: its call goes with the garbage collector
      op = stub.unary(Req.new(message: "op"), return_op: true)
      op.execute
      cancelled = stub.expand(Req.new(repeat: 5), return_op: true)
      replies = cancelled.execute
      replies.next
      cancelled.cancel
      begin
        replies.next
      rescue PolyRPC::Cancelled, StopIteration
        nil
      end
    end
  end

  # The test service without its records of every call (which would grow on their own).
  class Lean < TestSupport::EchoImpl
    def unary(req, _call)
      raise PolyRPC::NotFound.new("no #{req.code}") if req.code != 0
      TestSupport::Reply.new(message: req.message)
    end
  end

  def test_memory_stays_flat
    _, port = start_server(Lean.new)
    stub = stub_for(port)
    round(stub, 1500) # warm-up: allocator pools, GC heap, connection buffers
    before = settle
    round(stub, 2000)
    after = settle
    growth = after - before
    # A native call, buffer or metadata list leaked per call would be 2000 x 7.5 calls of
    # several hundred bytes each: about 10 MB.
    assert_operator growth, :<, 4 * 1024, "RSS grew by #{growth} KiB over 15,000 calls (#{before} -> #{after})"
  end
end
