"""How the CPU compiles the array-taking bodies of :mod:`kernels.core` that its loops call once per stop or move.

Numba counts an array's references up and down around every call it is handed to, with atomic instructions; in a
loop over stops that calls a body taking a dozen arrays those counts cost more than the body (perf on the 1M
national day: 45 % of SISR's time, 12 % of the whole plan's). A body compiled without the runtime
(``_nrt=False``) takes its arrays as plain views and counts nothing; such a body must not allocate or return an
array, which Numba checks when it compiles. Inlining does not help: the inlined arguments are counted just the
same. The bodies stay ordinary functions, so LLVM still inlines the small ones, and the arithmetic is unchanged
(the plans are byte-identical).
"""
from __future__ import annotations

from numba import njit

#: the decorator for those bodies (pass to the ``build_*`` functions of :mod:`kernels.core`)
array_body = njit(cache=True, _nrt=False)
