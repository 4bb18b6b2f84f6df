"""The OSRM client against a real osrm-routed on real roads: direction, tiling, legs, snapping, failures, counters."""
from __future__ import annotations

import http.server
import json
import math
import socket
import threading
import time
import urllib.request

import numpy as np
import pytest

from planner.roads import RoadEngineError, RoadSettings
from planner.roads.osrm import OsrmEngine, best_tile
from planner.roads.server import OsrmServer, free_port

#: on Baltimore's roads, 1.55 km apart: 2.13 km one way, 3.86 km back (one-way streets)
A = (39.274809, -76.551983)
B = (39.278132, -76.569432)


def _route(url: str, lat: np.ndarray, lon: np.ndarray, continue_straight: bool = False) -> dict:
    """OSRM's own ``route`` answer for the waypoints, fetched without the client under test."""
    coords = ";".join(f"{x:.6f},{y:.6f}" for x, y in zip(lon, lat, strict=True))
    query = f"overview=false&continue_straight={'true' if continue_straight else 'false'}"
    with urllib.request.urlopen(f"{url}/route/v1/car/{coords}?{query}", timeout=10) as resp:
        answer = json.load(resp)
    assert answer["code"] == "Ok"
    return answer["routes"][0]


def _gc_km(lat: np.ndarray, lon: np.ndarray) -> float:
    p = np.radians
    a = np.sin(p(np.diff(lat)) / 2) ** 2 + np.cos(p(lat[:-1])) * np.cos(p(lat[1:])) * np.sin(p(np.diff(lon)) / 2) ** 2
    return float(np.sum(2 * 6371.0088 * np.arcsin(np.sqrt(a))))


def test_table_keeps_direction_row_from_column_to(engine, baltimore):
    lat, lon = np.array([A[0], B[0]]), np.array([A[1], B[1]])
    km, sec = engine.table(lat, lon, lat, lon)
    assert km.shape == sec.shape == (2, 2) and km.dtype == np.float64
    assert km[0, 0] == 0 and km[1, 1] == 0
    assert km[0, 1] == pytest.approx(2.13, abs=0.05) and km[1, 0] == pytest.approx(3.86, abs=0.05)
    assert km[1, 0] > 1.5 * km[0, 1] and sec[1, 0] > sec[0, 1]
    there = _route(baltimore.url, lat, lon)
    back = _route(baltimore.url, lat[::-1], lon[::-1])
    assert km[0, 1] == pytest.approx(there["distance"] / 1000, abs=1e-4)
    assert km[1, 0] == pytest.approx(back["distance"] / 1000, abs=1e-4)
    assert sec[0, 1] == pytest.approx(there["duration"], abs=0.05)


def test_tiling_gives_the_numbers_of_one_request(engine, baltimore, city_points):
    lat, lon = city_points("baltimore", 70, 1)
    sl, so, tl, to = lat[:40], lon[:40], lat[40:], lon[40:]
    one_km, one_s = engine.table(sl, so, tl, to)
    assert engine.counters()["requests"] == 1
    with OsrmEngine(baltimore.settings(max_table_size=7)) as small:
        km, sec = small.table(sl, so, tl, to)
        s, t = best_tile(40, 30, 49, small.table_locations)
        assert s * t <= 49
        assert small.counters()["requests"] == math.ceil(40 / s) * math.ceil(30 / t) > 1
    np.testing.assert_array_equal(km, one_km)
    np.testing.assert_array_equal(sec, one_s)
    assert np.all(np.isfinite(km)) and np.all(km[np.arange(30), np.arange(30)] >= 0)


def test_many_blocks_in_one_call(engine, city_points):
    lat, lon = city_points("baltimore", 30, 2)
    blocks = [(lat[:5], lon[:5], lat[5:12], lon[5:12]), (lat[12:13], lon[12:13], lat, lon),
              (lat[:0], lon[:0], lat, lon)]
    out = engine.tables(blocks)
    assert [k.shape for k, _ in out] == [(5, 7), (1, 30), (0, 30)]
    np.testing.assert_array_equal(out[0][0], engine.table(*blocks[0])[0])


def test_legs_match_the_route_service(engine, baltimore, city_points):
    lat, lon = city_points("baltimore", 31, 3)
    order = np.argsort(lon)
    lat, lon = lat[order], lon[order]
    km, sec = engine.legs(lat, lon)
    legs = _route(baltimore.url, lat, lon)["legs"]
    np.testing.assert_allclose(km, [leg["distance"] / 1000 for leg in legs], atol=1e-9)
    np.testing.assert_allclose(sec, [leg["duration"] for leg in legs], atol=1e-9)
    # with U-turns at stops every leg is the pair's own fastest path: the table's figure
    tkm, tsec = engine.table(lat[:-1], lon[:-1], lat[1:], lon[1:])
    np.testing.assert_allclose(km, np.diag(tkm), atol=1e-9)
    np.testing.assert_allclose(sec, np.diag(tsec), atol=1e-9)
    # windows of 6 waypoints (5 legs) give the same legs
    with OsrmEngine(baltimore.settings(max_route_size=6)) as windowed:
        wkm, wsec = windowed.legs(lat, lon)
        assert windowed.counters()["requests_by_service"] == {"route": 6}
    np.testing.assert_array_equal(wkm, km)
    np.testing.assert_array_equal(wsec, sec)


def test_legs_without_uturns_follow_the_profile_default(baltimore, city_points):
    lat, lon = city_points("baltimore", 20, 4)
    with OsrmEngine(baltimore.settings(uturn_at_stops=False)) as eng:
        km, _ = eng.legs(lat, lon)
        free, _ = OsrmEngine(baltimore.settings()).legs(lat, lon)
    legs = _route(baltimore.url, lat, lon, continue_straight=True)["legs"]
    np.testing.assert_allclose(km, [leg["distance"] / 1000 for leg in legs], atol=1e-9)
    assert km.sum() >= free.sum()


def test_legs_of_many_sequences_and_short_ones(engine, city_points):
    lat, lon = city_points("baltimore", 12, 5)
    out = engine.legs_many([(lat[:6], lon[:6]), (lat[6:], lon[6:]), (lat[:1], lon[:1])])
    assert [k.size for k, _ in out] == [5, 5, 0]
    np.testing.assert_array_equal(out[1][0], engine.legs(lat[6:], lon[6:])[0])


def test_snap_moves_points_onto_roads_once(engine, city_points):
    lat, lon = city_points("baltimore", 400, 6)
    snapped = engine.snap(lat, lon)
    assert snapped.lat.shape == snapped.lon.shape == snapped.snap_m.shape == (400,)
    assert np.all(snapped.snap_m >= 0) and np.median(snapped.snap_m) < 100
    again = engine.snap(snapped.lat, snapped.lon)
    assert np.all(again.snap_m < 0.5)
    np.testing.assert_allclose(again.lat, snapped.lat, atol=2e-6)
    # a point far from every road still snaps, to the nearest road of the graph: callers must look at snap_m
    far = engine.snap([39.0], [-70.0])
    assert far.snap_m[0] > 400_000


def test_route_geometry_follows_the_roads(engine, city_points):
    lat, lon = city_points("baltimore", 6, 7)
    snapped = engine.snap(lat, lon)
    line = engine.route_geometry(snapped.lat, snapped.lon)
    assert line.ndim == 2 and line.shape[1] == 2 and line.shape[0] > 6
    assert np.abs(line[0] - [snapped.lat[0], snapped.lon[0]]).max() < 1e-5
    assert np.abs(line[-1] - [snapped.lat[-1], snapped.lon[-1]]).max() < 1e-5
    km, _ = engine.legs(snapped.lat, snapped.lon)
    assert _gc_km(line[:, 0], line[:, 1]) == pytest.approx(km.sum(), rel=0.02)


def test_counters_count_requests_bytes_and_entries(engine, city_points):
    lat, lon = city_points("baltimore", 20, 8)
    engine.check()
    engine.table(lat[:4], lon[:4], lat[4:], lon[4:])
    engine.legs(lat, lon)
    engine.snap(lat, lon)
    c = engine.counters()
    assert c["engine"] == "osrm" and c["url"] == engine.url and c["profile"] == "car"
    assert c["requests"] == 4 and c["requests_by_service"] == {"nearest": 1, "route": 1, "table": 2}
    assert c["table_entries"] == 4 * 16 + 20 and c["retries"] == 0 and c["calls"] == 4
    assert c["bytes_sent"] > 0 and c["bytes_received"] > 0 and c["seconds"] > 0 and c["wall_s"] > 0


def test_unreachable_url_fails_in_seconds_with_one_line():
    port = free_port()
    settings = RoadSettings(engine="osrm", url=f"http://127.0.0.1:{port}", retries=2, backoff_s=0.05)
    with OsrmEngine(settings) as eng:
        start = time.monotonic()
        with pytest.raises(RoadEngineError) as err:
            eng.check()
        assert str(err.value) == f"road engine osrm at http://127.0.0.1:{port}: unreachable (connection refused)"
        assert err.value.exit_status == 2
        with pytest.raises(RoadEngineError) as err:
            eng.table([39.27], [-76.55], [39.28], [-76.56])
        assert str(err.value) == (f"road engine osrm at http://127.0.0.1:{port}: unreachable "
                                  "(connection refused; table request tried 3 times)")
        assert time.monotonic() - start < 3
        assert eng.counters()["retries"] == 2


def test_silent_server_fails_after_the_check_timeout():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)  # accepts connections, never answers
        port = listener.getsockname()[1]
        with OsrmEngine(RoadSettings(engine="osrm", url=f"http://127.0.0.1:{port}", check_timeout_s=0.5)) as eng:
            start = time.monotonic()
            with pytest.raises(RoadEngineError, match=r"unreachable \(no answer within 0\.5 s\)$"):
                eng.check()
            assert time.monotonic() - start < 2


def test_a_server_that_is_not_osrm_is_named():
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_error(404)

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        with OsrmEngine(RoadSettings(engine="osrm", url=url)) as eng, pytest.raises(RoadEngineError) as err:
            eng.check()
        assert str(err.value) == (f"road engine osrm at {url}: answered HTTP 404 to a nearest request, "
                                  "not OSRM JSON (is it an osrm-routed?)")
    finally:
        httpd.shutdown()
        httpd.server_close()


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Answers 503 to the first ``failures`` requests, then a 1 x 1 OSRM table."""

    failures = 1
    seen = 0

    def do_GET(self):  # noqa: N802
        type(self).seen += 1
        if type(self).seen <= type(self).failures:
            self.send_error(503)
            return
        body = json.dumps({"code": "Ok", "distances": [[1234.5]], "durations": [[99.0]]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("failures", [1, 5])
def test_transient_http_errors_are_retried_then_named(failures):
    handler = type("Flaky", (_Flaky,), {"failures": failures, "seen": 0})
    httpd = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        with OsrmEngine(RoadSettings(engine="osrm", url=url, retries=2, backoff_s=0.01)) as eng:
            if failures == 1:
                km, sec = eng.table([39.27], [-76.55], [39.28], [-76.56])
                assert km[0, 0] == pytest.approx(1.2345) and sec[0, 0] == 99.0
                assert eng.counters()["retries"] == 1 and eng.counters()["requests"] == 1
            else:
                with pytest.raises(RoadEngineError) as err:
                    eng.table([39.27], [-76.55], [39.28], [-76.56])
                assert str(err.value) == f"road engine osrm at {url}: failing (HTTP 503; table request tried 3 times)"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _Island(http.server.BaseHTTPRequestHandler):
    """A fake ``route`` service on which no road reaches or leaves the point at longitude -76.5 (an island)."""

    def do_GET(self):  # noqa: N802
        coords = self.path.split("/")[4].split("?")[0].split(";")
        if any(c.startswith("-76.500000,") for c in coords):
            answer = {"code": "NoRoute", "message": "Impossible route between points"}
        else:
            answer = {"code": "Ok", "routes": [{"legs": [{"distance": 1000.0, "duration": 60.0}] * (len(coords) - 1),
                                                "geometry": {"coordinates": [[float(c.split(",")[0]),
                                                                              float(c.split(",")[1])]
                                                                             for c in coords]}}]}
        body = json.dumps(answer).encode()
        self.send_response(200 if answer["code"] == "Ok" else 400)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_an_unroutable_leg_is_inf_and_the_rest_is_kept():
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Island)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    lon = np.array([-76.1, -76.2, -76.3, -76.5, -76.4, -76.6, -76.7, -76.8])
    lat = np.full(lon.size, 39.3)
    try:
        with OsrmEngine(RoadSettings(engine="osrm", url=f"http://127.0.0.1:{httpd.server_address[1]}")) as eng:
            km, sec = eng.legs(lat, lon)
            np.testing.assert_array_equal(km, [1, 1, np.inf, np.inf, 1, 1, 1])
            np.testing.assert_array_equal(sec, [60, 60, np.inf, np.inf, 60, 60, 60])
            line = eng.route_geometry(lat, lon)
            np.testing.assert_allclose(line[:, 1], lon)  # an unroutable leg is drawn straight
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_limit_above_the_servers_is_refused_in_one_line(baltimore, city_points):
    lat, lon = city_points("baltimore", 150, 9)
    with OsrmEngine(baltimore.settings(max_table_size=200)) as eng, pytest.raises(RoadEngineError) as err:
        eng.table(lat[:120], lon[:120], lat[:90], lon[:90])
    assert str(err.value) == (f"road engine osrm at {baltimore.url}: table request refused: TooBig "
                              "(Too many table coordinates)")


def test_server_killed_mid_run_gives_the_clear_error(baltimore_graph, osrm_tools, city_points):
    lat, lon = city_points("baltimore", 60, 10)
    with OsrmServer(baltimore_graph, tools=osrm_tools) as server:
        pid = server.pid
        eng = OsrmEngine(server.settings(max_table_size=4, concurrency=2, retries=2, backoff_s=0.05))
        eng.table(lat[:3], lon[:3], lat[3:6], lon[3:6])

        def kill_after_some_requests() -> None:
            deadline = time.monotonic() + 10
            while eng.counters()["requests"] < 6 and time.monotonic() < deadline:
                time.sleep(0.001)
            server.kill()

        killer = threading.Thread(target=kill_after_some_requests)
        killer.start()
        start = time.monotonic()
        with pytest.raises(RoadEngineError) as err:
            eng.table(lat, lon, lat, lon)  # 60 x 60 in 4 x 4 tiles: 225 requests
        killer.join()
        eng.close()
        assert time.monotonic() - start < 5
        message = str(err.value)
        assert message.startswith(f"road engine osrm at {server.url}: unreachable (")
        assert message.endswith("; table request tried 3 times)") and "\n" not in message
        assert ("connection refused" in message) or ("connection closed by the server" in message)
    with pytest.raises(ProcessLookupError):
        import os

        os.kill(pid, 0)


def test_server_stops_by_pid(baltimore_graph, osrm_tools):
    import os

    server = OsrmServer(baltimore_graph, tools=osrm_tools).start()
    pid, url = server.pid, server.url
    with OsrmEngine(server.settings()) as eng:
        eng.check()
    server.stop()
    assert server.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with OsrmEngine(RoadSettings(engine="osrm", url=url, retries=0)) as eng, pytest.raises(RoadEngineError):
        eng.check()


def test_harrisburg_roads_are_asymmetric_and_legs_match_tables(harrisburg, city_points):
    lat, lon = city_points("harrisburg", 40, 11)
    with OsrmEngine(harrisburg.settings()) as eng:
        snapped = eng.snap(lat, lon)
        km, _ = eng.table(snapped.lat, snapped.lon, snapped.lat, snapped.lon)
        finite = np.isfinite(km) & np.isfinite(km.T) & (km > 0.5)
        differ = np.abs(km - km.T) > 0.01 * np.maximum(km, km.T)
        assert differ[finite].mean() > 0.2
        legs, _ = eng.legs(snapped.lat[:10], snapped.lon[:10])
        np.testing.assert_allclose(legs, km[np.arange(9), np.arange(1, 10)], atol=1e-9)
