"""Synthetic national loads: parcels at population-weighted US addresses and the hubs that serve them."""
from planner.synth.geo import BBOX_PREFIX
from planner.synth.load import (
    BATCH_SIZE,
    HUB_SCHEMA,
    PARCEL_SCHEMA,
    REGIONS,
    iter_parcel_batches,
    make_hubs,
    write_load,
)

__all__ = ["BATCH_SIZE", "BBOX_PREFIX", "HUB_SCHEMA", "PARCEL_SCHEMA", "REGIONS", "iter_parcel_batches", "make_hubs",
           "write_load"]
