"""The k nearest hubs of every query point on a CUDA device, exact, pruned by a grid over the hubs.

The hub grid is small (thousands of hubs) and built on the host by
:func:`kernels.core.nearest.build_hub_grid`; each thread then runs the CPU's
per-query ring search (:func:`kernels.core.nearest.build_elements`) compiled as
a device function, so both backends return the same hubs and distances.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda

from kernels.core.nearest import LIST_HUBS_PER_CELL, build_elements, build_hub_grid, check_query
from kernels.cuda import _core, _launch

_knn_query = build_elements(cuda.jit(device=True), _core).knn_query


@cuda.jit(cache=True)
def _nearest_hubs(qa, qb, k, metric, scale, a0, b0, wa, wb, na, nb, origin, slack_a, slack_b,
                  cell_ptr, hub_idx, hub_a, hub_b, hub_x, hub_y, hub_z, hub_cos, cand_ptr, cand_pos,
                  out_idx, out_dist):  # type: ignore[no-untyped-def]
    for i in range(cuda.grid(1), qa.shape[0], cuda.gridsize(1)):
        _knn_query(i, qa[i], qb[i], k, metric, scale, a0, b0, wa, wb, na, nb, origin, slack_a, slack_b,
                   cell_ptr, hub_idx, hub_a, hub_b, hub_x, hub_y, hub_z, hub_cos, cand_ptr, cand_pos,
                   out_idx, out_dist)


def nearest_hubs(qa: Any, qb: Any, ha: Any, hb: Any, k: int, metric: int, scale: float) -> tuple[Any, Any]:
    """The ``k`` nearest hubs of each query point: device ``(idx int32[n, k], dist float64[n, k])``.

    Same contract as :func:`kernels.cpu.nearest.nearest_hubs`; hub coordinates
    may be on the host or the device (they are copied to the host to build the grid).
    """
    n = check_query(qa, qb, ha, hb, k)
    k = int(k)
    grid = build_hub_grid(_launch.to_host(ha), _launch.to_host(hb), int(metric), LIST_HUBS_PER_CELL, k)
    out_idx = _launch.device_empty((n, k), np.int32)
    out_dist = _launch.device_empty((n, k), np.float64)
    if n:
        *params, cell_ptr, hub_idx, hub_a, hub_b, hub_x, hub_y, hub_z, hub_cos, cand_ptr, cand_pos = grid
        blocks, threads = _launch.launch_config(n)
        _nearest_hubs[blocks, threads](
            _launch.to_device(qa, np.float64), _launch.to_device(qb, np.float64), k, int(metric), float(scale),
            *params, _launch.to_device(cell_ptr, np.int64), _launch.to_device(hub_idx, np.int32),
            *(_launch.to_device(x, np.float64) for x in (hub_a, hub_b, hub_x, hub_y, hub_z, hub_cos)),
            _launch.to_device(cand_ptr, np.int64), _launch.to_device(cand_pos, np.int32), out_idx, out_dist,
        )
    return out_idx, out_dist
