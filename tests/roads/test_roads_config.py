"""Road settings: defaults keep the planner on great-circle km; every bad value names its key."""
from __future__ import annotations

import pytest

from planner.errors import SettingsError
from planner.roads import OsrmEngine, RoadSettings, make_engine


def test_defaults_mean_no_engine():
    s = RoadSettings()
    assert s.engine == "none" and not s.enabled and make_engine(s) is None
    assert s.max_table_size == 100 and s.profile == "car" and s.uturn_at_stops
    assert s.calibrate and s.node_circuity  # with an engine, each stop's own circuity is fitted


def test_osrm_engine_from_settings():
    eng = make_engine(RoadSettings(engine="osrm", url="http://127.0.0.1:5000/osrm/", max_url_bytes=4000))
    assert isinstance(eng, OsrmEngine) and eng.url == "http://127.0.0.1:5000/osrm"
    pairs, locations = eng.request_capacity
    assert pairs == 10_000 and 100 < locations < 4000 // 24
    eng.close()


@pytest.mark.parametrize("changes, message", [
    ({"engine": "valhalla"}, "roads.engine must be one of none, osrm, not 'valhalla'"),
    ({"url": "127.0.0.1:5000"}, "roads.url must be an http:// or https:// URL with a host"),
    ({"url": "ftp://host"}, "roads.url must be an http:// or https:// URL with a host"),
    ({"url": "http://host:99999"}, "roads.url must be an http:// or https:// URL with a valid port"),
    ({"url": "http://user:secret@host"}, "roads.url must not hold credentials"),
    ({"url": "http://host/?x=1"}, "roads.url must have no query or fragment"),
    ({"profile": "car/../x"}, "roads.profile must be a name"),
    ({"max_table_size": 1}, "roads.max_table_size must be an integer >= 2, not 1"),
    ({"max_table_size": 10.0}, "roads.max_table_size must be an integer >= 2, not 10.0"),
    ({"max_route_size": True}, "roads.max_route_size must be an integer >= 2, not True"),
    ({"max_url_bytes": 100}, "roads.max_url_bytes must be an integer >= 1024"),
    ({"concurrency": 0}, "roads.concurrency must be an integer >= 1, not 0"),
    ({"retries": -1}, "roads.retries must be an integer >= 0, not -1"),
    ({"backoff_s": float("nan")}, "roads.backoff_s must be a number >= 0"),
    ({"timeout_s": 0}, "roads.timeout_s must be a positive number, not 0"),
    ({"check_timeout_s": "3"}, "roads.check_timeout_s must be a positive number, not '3'"),
    ({"uturn_at_stops": 1}, "roads.uturn_at_stops must be true or false, not 1"),
    ({"calibrate": "yes"}, "roads.calibrate must be true or false, not 'yes'"),
    ({"node_circuity": 1}, "roads.node_circuity must be true or false, not 1"),
])
def test_bad_values_name_the_key(changes, message):
    with pytest.raises(SettingsError) as err:
        RoadSettings(**changes)
    assert str(err.value).startswith(message)
    assert err.value.exit_status == 2


def test_frozen():
    with pytest.raises(AttributeError):
        RoadSettings().engine = "osrm"  # type: ignore[misc]
