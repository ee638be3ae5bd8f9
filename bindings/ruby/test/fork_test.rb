# frozen_string_literal: true

require_relative "test_helper"
require "open3"
require "rbconfig"

# fork(): a master that used polyrpc forks workers (Puma style); inherited stubs work in the
# children with no user action, the master keeps working, nobody hangs at exit. Each scenario
# runs in a process of its own (forking the test runner itself would fork its threads' state).
class ForkTest < PolyTest
  MASTER = File.join(__dir__, "fork_master.rb")

  def run_master(*args, timeout: 90)
    out = +""
    status = nil
    Open3.popen2e(RbConfig.ruby, MASTER, *args.map(&:to_s)) do |stdin, io, wait|
      stdin.close
      reader = Thread.new { io.each_line { |l| out << l } }
      unless wait.join(timeout)
        Process.kill("KILL", wait.pid)
        flunk "the master hung:\n#{out}"
      end
      reader.join(5)
      status = wait.value
    end
    [status, out]
  end

  def test_preforked_workers_use_the_inherited_stub
    _, port = start_server
    status, out = run_master(port, 4, 50, TestSupport::GEN_DIR)
    assert status.success?, out
    assert_equal 4, out.scan(/worker \d: ok/).size, out
    assert_includes out, "master: ok"
  end

  def test_children_call_a_server_of_the_master
    status, out = run_master(0, 3, 30, TestSupport::GEN_DIR, "in_process_server")
    assert status.success?, out
    assert_equal 3, out.scan(/worker \d: ok/).size, out
  end

  def test_repeated_forks_do_not_hang_or_leak_processes
    _, port = start_server
    3.times do
      status, out = run_master(port, 2, 5, TestSupport::GEN_DIR, timeout: 60)
      assert status.success?, out
    end
  end
end
