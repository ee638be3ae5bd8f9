"""Channels at scale from Python (docs/channels.md): address-list targets, grpcio's option names
(grpc.lb_policy_name, grpc.service_config, grpc.enable_retries) and connectivity watching, over
several polyrpc servers on loopback addresses (127.0.0.2, 127.0.0.3: Linux routes all of 127/8 to
lo). Every wait is bounded."""

import json
import threading
import time
from concurrent import futures

import pytest

import polyrpc

SERVICE = "test.Lb"


class Backend:
    """A polyrpc server on one loopback address: Who answers with its host; Flaky fails its first
    `fail_first` calls with UNAVAILABLE."""

    def __init__(self, host, fail_first=0):
        self.host = host
        self.calls = 0
        self.fail_first = fail_first
        self._lock = threading.Lock()

        def who(request, context):
            with self._lock:
                self.calls += 1
            return host.encode()

        def flaky(request, context):
            with self._lock:
                self.calls += 1
                n = self.calls
            if n <= self.fail_first:
                context.abort(polyrpc.StatusCode.UNAVAILABLE, "not yet")
            return host.encode()

        self.server = polyrpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((polyrpc.method_handlers_generic_handler(SERVICE, {
            "Who": polyrpc.unary_unary_rpc_method_handler(who),
            "Flaky": polyrpc.unary_unary_rpc_method_handler(flaky),
        }),))
        self.port = self.server.add_insecure_port("%s:0" % host)
        assert self.port > 0
        self.server.start()
        self.address = "%s:%d" % (host, self.port)

    def stop(self):
        self.server.stop(0).wait(10)


@pytest.fixture
def backends():
    started = []

    def make(n, **kw):
        for i in range(n):
            started.append(Backend("127.0.0.%d" % (i + 2), **kw))
        return started

    yield make
    for b in started:
        b.stop()


def ipv4_target(bs):
    return "ipv4:" + ",".join(b.address for b in bs)


def who(channel, timeout=3):
    return channel.unary_unary("/%s/Who" % SERVICE)(b"?", timeout=timeout).decode()


def warm_up(channel, bs):
    """Calls until every backend has answered (round_robin connects to all, in parallel)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(b.calls for b in bs):
        who(channel)
    assert all(b.calls for b in bs), [b.calls for b in bs]
    for b in bs:
        b.calls = 0


def test_round_robin_over_an_address_list_spreads_calls_evenly(backends):
    bs = backends(3)
    with polyrpc.insecure_channel(ipv4_target(bs),
                                  options=[("grpc.lb_policy_name", "round_robin")]) as ch:
        warm_up(ch, bs)
        hosts = [who(ch) for _ in range(90)]
        assert {h: hosts.count(h) for h in set(hosts)} == {b.host: 30 for b in bs}
        assert [b.calls for b in bs] == [30, 30, 30]


def test_pick_first_is_the_default_and_sends_everything_to_the_first_address(backends):
    bs = backends(2)
    with polyrpc.insecure_channel(ipv4_target(bs)) as ch:
        assert {who(ch) for _ in range(10)} == {bs[0].host}


def test_round_robin_avoids_a_server_that_was_killed(backends):
    bs = backends(3)
    with polyrpc.insecure_channel(ipv4_target(bs),
                                  options=[("grpc.lb_policy_name", "round_robin")]) as ch:
        warm_up(ch, bs)
        bs[1].stop()
        # The calls that raced the close may fail; then none go to the stopped server.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                who(ch)
                break
            except polyrpc.RpcError:
                time.sleep(0.01)
        hosts = [who(ch) for _ in range(40)]
        assert bs[1].host not in hosts
        assert set(hosts) == {bs[0].host, bs[2].host}


def test_service_config_option_sets_the_policy_and_retries_recover_unavailable(backends):
    bs = backends(1, fail_first=2)
    config = {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [{
            "name": [{"service": SERVICE}],
            "retryPolicy": {
                "maxAttempts": 3,
                "initialBackoff": "0.01s",
                "maxBackoff": "0.05s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }],
    }
    with polyrpc.insecure_channel(bs[0].address,
                                  options=[("grpc.service_config", json.dumps(config))]) as ch:
        assert ch.unary_unary("/%s/Flaky" % SERVICE)(b"?", timeout=5) == bs[0].host.encode()
        assert bs[0].calls == 3


def test_enable_retries_zero_turns_the_retry_policy_off(backends):
    bs = backends(1, fail_first=2)
    config = {"methodConfig": [{
        "name": [{"service": SERVICE}],
        "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.01s", "maxBackoff": "0.05s",
                        "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]},
    }]}
    with polyrpc.insecure_channel(bs[0].address, options=[
            ("grpc.service_config", json.dumps(config)), ("grpc.enable_retries", 0)]) as ch:
        with pytest.raises(polyrpc.RpcError) as info:
            ch.unary_unary("/%s/Flaky" % SERVICE)(b"?", timeout=5)
        assert info.value.code() == polyrpc.StatusCode.UNAVAILABLE
        assert bs[0].calls == 1


def test_an_invalid_service_config_is_refused_with_its_reason():
    with pytest.raises(Exception) as info:
        polyrpc.insecure_channel("127.0.0.1:1", options=[("grpc.service_config", "{not json")])
    assert "service_config" in str(info.value)


def test_connectivity_of_an_address_list_channel_is_watchable(backends):
    bs = backends(2)
    seen = []
    ready = threading.Event()

    def on_state(state):
        seen.append(state)
        if state == polyrpc.ChannelConnectivity.READY:
            ready.set()

    with polyrpc.insecure_channel(ipv4_target(bs),
                                  options=[("grpc.lb_policy_name", "round_robin")]) as ch:
        ch.subscribe(on_state, try_to_connect=True)
        assert ready.wait(5), seen
        assert seen[0] == polyrpc.ChannelConnectivity.IDLE
        ch.unsubscribe(on_state)
