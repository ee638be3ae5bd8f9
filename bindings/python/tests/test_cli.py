"""The ``polyrpc`` console script of the installed package (the command-line tool bundled in
polyrpc/_bin, docs/cli.md) against a Python server with reflection and health."""

import json
import os
import subprocess
import sys
from concurrent import futures

import pytest

import polyrpc
from polyrpc.tools import cli
from test_health_reflection import SERVICE, _handlers

SCRIPT = os.path.join(os.path.dirname(sys.executable), "polyrpc")


@pytest.fixture(scope="module")
def address():
    server = polyrpc.server(futures.ThreadPoolExecutor(4))
    server.add_generic_rpc_handlers((_handlers(),))
    server.enable_health().set(SERVICE, polyrpc.ServingStatus.SERVING)
    server.enable_reflection()
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield "127.0.0.1:%d" % port
    server.stop(None).wait(10)


def run(*args, stdin=None):
    return subprocess.run([SCRIPT] + list(args), input=stdin, capture_output=True, text=True,
                          timeout=60)


def test_the_tool_is_bundled():
    assert cli.tool_path() is not None, "polyrpc/_bin/polyrpc missing from the package"
    assert os.access(SCRIPT, os.X_OK), "no console script " + SCRIPT
    r = run("version")
    assert r.returncode == 0 and r.stdout.startswith("polyrpc "), r.stderr


def test_list_describe_call(address):
    r = run("list", address)
    assert r.returncode == 0, r.stderr
    assert SERVICE in r.stdout.split()
    r = run("describe", address, SERVICE)
    assert "rpc Repeat(.google.protobuf.StringValue) returns (stream " \
           ".google.protobuf.StringValue);" in r.stdout, r.stderr
    r = run("call", address, SERVICE + "/Say", '"hi"')
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == "echo: hi"
    r = run("call", address, SERVICE + "/Repeat", stdin='"x"\n')
    assert [json.loads(line) for line in r.stdout.splitlines()] == ["x 0", "x 1", "x 2"]
    r = run("call", address, "grpc.health.v1.Health/Check", '{"service": "%s"}' % SERVICE)
    assert json.loads(r.stdout) == {"status": "SERVING"}
    r = run("call", address, "grpc.health.v1.Health/Check", '{"service": "nope"}')
    assert r.returncode == 5  # NOT_FOUND
