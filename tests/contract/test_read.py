"""Reading input files: formats, casts, and one clear line for every file that cannot be read."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.contract import read_table, validate
from planner.errors import InputError
from tests.contract.inputs import PROPERTY, check_partition, hubs, malformed, parcels, write


@pytest.mark.parametrize("suffix", [".arrow", ".feather", ".ipc", ".parquet"])
def test_read_table_formats_and_casts(tmp_path: Path, suffix: str) -> None:
    table = hubs(vehicles=[2, 3], capacity_kg=[100.0, 300.0], hub_id=pa.array(["h0", "h1"], pa.large_string()),
                 extra=["x", "y"])
    back = read_table(write(table, tmp_path / f"hubs{suffix}"), "hubs")
    assert back.schema.field("vehicles").type == pa.int32()
    assert back.schema.field("capacity_kg").type == pa.float32()
    assert back.schema.field("hub_id").type == pa.string()
    assert back.column("extra").to_pylist() == ["x", "y"]
    assert back.column("vehicles").to_pylist() == [2, 3]


def test_read_table_keeps_dictionary_tier(tmp_path: Path) -> None:
    table = parcels(2, tier=pa.array(["express", "priority"]).dictionary_encode())
    back = read_table(write(table, tmp_path / "p.parquet"), "parcels")
    assert pa.types.is_dictionary(back.schema.field("tier").type)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.arrow"
    with pytest.raises(InputError) as err:
        read_table(path, "parcels")
    assert str(err.value) == f"parcels file {path}: no such file"
    assert err.value.exit_status == 2


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "hubs.csv"
    path.write_text("hub_id\n")
    with pytest.raises(InputError) as err:
        read_table(path, "hubs")
    assert str(err.value) == (f"hubs file {path}: unknown file type '.csv' "
                              "(expected one of .arrow, .feather, .ipc, .parquet)")


@pytest.mark.parametrize("suffix, kind", [(".arrow", "Arrow IPC"), (".parquet", "Parquet")])
def test_corrupt_file(tmp_path: Path, suffix: str, kind: str) -> None:
    path = tmp_path / f"parcels{suffix}"
    path.write_bytes(b"this is not\na columnar file" * 10)
    with pytest.raises(InputError) as err:
        read_table(path, "parcels")
    message = str(err.value)
    assert message.startswith(f"parcels file {path}: cannot be read as {kind}: ")
    assert "\n" not in message


def test_truncated_ipc_file(tmp_path: Path) -> None:
    path = write(parcels(100), tmp_path / "parcels.arrow")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputError, match=r"cannot be read as Arrow IPC"):
        read_table(path, "parcels")


@pytest.mark.parametrize("suffix", [".arrow", ".parquet"])
def test_missing_required_column(tmp_path: Path, suffix: str) -> None:
    path = write(parcels(lat=None), tmp_path / f"x{suffix}")
    with pytest.raises(InputError) as err:
        read_table(path, "parcels")
    assert str(err.value) == f"parcels file {path}: missing required column 'lat'"


def test_uncastable_column(tmp_path: Path) -> None:
    path = write(hubs(vehicles=["two", "3"]), tmp_path / "hubs.arrow")
    with pytest.raises(InputError) as err:
        read_table(path, "hubs")
    message = str(err.value)
    assert message.startswith(f"hubs file {path}: column 'vehicles' of type string cannot be read as int32: ")
    assert "\n" not in message


@pytest.mark.parametrize("column, values", [
    ("lat", [True, False, True]), ("lon", ["40.7", "40.8", "40.9"]),
    ("lat", pa.array(["1", "2", "3"]).dictionary_encode()), ("weight_kg", [True, True, False]),
])
def test_booleans_and_text_are_not_numbers(tmp_path: Path, column: str, values: object) -> None:
    path = write(parcels(3, **{column: values}), tmp_path / "p.arrow")
    with pytest.raises(InputError) as err:
        read_table(path, "parcels")
    message = str(err.value)
    assert message.startswith(f"parcels file {path}: column '{column}' of type ") and "\n" not in message
    assert message.endswith("it must hold numbers")
    # integers, floats and all-null columns still cast
    for fine in ([40, 41, 42], pa.array([40.5, None, 41.0], pa.float32()), pa.nulls(3)):
        read_table(write(parcels(3, **{column: fine}), tmp_path / "q.arrow"), "parcels")


def test_unrepresentable_value_is_an_input_error(tmp_path: Path) -> None:
    path = write(hubs(vehicles=[2.5, 3.0]), tmp_path / "hubs.arrow")
    with pytest.raises(InputError, match=r"column 'vehicles' of type double cannot be read as int32: .*2\.5"):
        read_table(path, "hubs")


def test_duplicate_column(tmp_path: Path) -> None:
    table = pa.Table.from_arrays([pa.array(["a"]), pa.array([1.0]), pa.array([2.0]), pa.array([3.0])],
                                 names=["parcel_id", "lat", "lon", "lat"])
    path = write(table, tmp_path / "p.arrow")
    with pytest.raises(InputError) as err:
        read_table(path, "parcels")
    assert str(err.value) == f"parcels file {path}: column 'lat' appears 2 times"




@PROPERTY
@given(table=malformed("parcels"), suffix=st.sampled_from([".arrow", ".ipc", ".parquet"]),
       garbage=st.one_of(st.none(), st.binary(max_size=64)))
def test_read_table_returns_or_raises_input_error(tmp_path_factory: pytest.TempPathFactory, table: pa.Table,
                                                  suffix: str, garbage: bytes | None) -> None:
    path = tmp_path_factory.mktemp("prop") / f"parcels{suffix}"
    if garbage is None:
        write(table, path)
    else:
        path.write_bytes(garbage)
    try:
        back = read_table(path, "parcels")
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"parcels file {path}: ")
        return
    result = validate(back, hubs())
    check_partition(result, back.num_rows, 2)


# --------------------------------------------------------------------------- write_outputs
