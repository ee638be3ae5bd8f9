#!/usr/bin/env python3
"""End-to-end test of protoc-gen-polyrpc's lang=c stubs (ctest codegen_c_e2e).

1. The generated client stubs, every call kind, against real gRPC: the grpc++ interop server.
2. The generated server helpers: the test program serves grpc.testing.TestService with them, and
   its own client stubs, then gRPC's grpc++ interop client (its standard cases), run against it.

    e2e_c.py --program build/codegen/tests/codegen_c_e2e \\
             --grpcxx-server build/conformance/grpcxx/grpcxx_interop_server \\
             --grpcxx-client build/conformance/grpcxx/grpcxx_interop_client

Every client connects to 127.0.0.1; servers are stopped by PID. Exit status 0 when every step
passed, 1 otherwise.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

# The grpc++ interop client's cases that the test server implements.
GRPCXX_CASES = [
    "empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong",
    "empty_stream", "cancel_after_begin", "cancel_after_first_response",
    "timeout_on_sleeping_server", "custom_metadata", "status_code_and_message",
    "special_status_message", "unimplemented_method", "unimplemented_service",
]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, timeout_s=20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Server:
    """One server process on a free port (retried if another process took the port first)."""

    def __init__(self, name, make_cmd):
        self.name, self.proc, self.port = name, None, None
        for _ in range(3):
            port = free_port()
            proc = subprocess.Popen(make_cmd(port), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, start_new_session=True)
            if wait_for_port(port, proc):
                self.proc, self.port = proc, port
                return
            self._kill(proc)
        raise RuntimeError("%s did not start" % name)

    @staticmethod
    def _kill(proc):
        """SIGTERM, then SIGKILL after 5 s; returns (exit status, stderr)."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        return proc.returncode, err

    def stop(self):
        """Stops the server; (exit status, stderr), or None if it was stopped already."""
        if self.proc is None:
            return None
        result = self._kill(self.proc)
        self.proc = None
        return result


def run(cmd, what, timeout_s=60):
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        print("FAIL %s: timed out after %ds" % (what, timeout_s))
        return False
    if result.returncode != 0:
        print("FAIL %s (exit %d):\n%s%s" % (what, result.returncode, result.stdout, result.stderr))
        return False
    print("ok   %s" % what)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--program", required=True, help="codegen_c_e2e")
    parser.add_argument("--grpcxx-server", required=True, help="grpcxx_interop_server")
    parser.add_argument("--grpcxx-client", required=True, help="grpcxx_interop_client")
    args = parser.parse_args()

    ok = True
    grpcxx = Server("grpcxx_interop_server",
                    lambda p: [args.grpcxx_server, "--port=%d" % p, "--use_tls=false"])
    try:
        ok &= run([args.program, "--client", "--port=%d" % grpcxx.port],
                  "C stubs -> grpc++ interop server")
    finally:
        grpcxx.stop()

    ours = Server("codegen_c_e2e --serve", lambda p: [args.program, "--serve", "--port=%d" % p])
    try:
        ok &= run([args.program, "--client", "--port=%d" % ours.port],
                  "C stubs -> C server helpers")
        for case in GRPCXX_CASES:
            ok &= run([args.grpcxx_client, "--server_host=127.0.0.1",
                       "--server_port=%d" % ours.port, "--use_tls=false", "--test_case=" + case],
                      "grpc++ interop client -> C server helpers: " + case, timeout_s=30)
        # The server shuts down on SIGTERM and exits 0.
        code, err = ours.stop()
        if code != 0:
            print("FAIL C server helpers: exit %d after SIGTERM:\n%s" % (code, err))
            ok = False
        else:
            print("ok   C server helpers: clean exit on SIGTERM")
    finally:
        ours.stop()
    print("PASS" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
