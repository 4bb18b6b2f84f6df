"""Every CUDA kernel compiled to PTX and assembled by ptxas for a compute capability, on a machine with no GPU.

Why: CI has no GPU, and Numba's simulator runs kernels as Python, so a kernel
that a real device cannot compile, that spills registers to local memory, or
whose register count halves its occupancy would only show on a GPU node. This
module compiles each kernel with numba-cuda's :func:`numba.cuda.compile_ptx`
for :data:`TARGET_CC` (the H200's sm_90) and runs ``ptxas -arch=sm_90 -v`` on
the PTX for registers per thread, spills, stack frame and shared memory.
``bench/ptx.py`` keeps the table; ``tests/ptx`` holds every kernel to budgets.

The kernels are found by walking :mod:`kernels.cuda`: every module-level
``cuda.jit`` kernel defined in its module, plus what a module's optional
``ptx_kernels()`` returns (kernels built by a factory, such as
:func:`kernels.cuda.intra._kernel` for a block size). :data:`SIGNATURES`
holds the argument types each driver really passes, as compact specs read
from the drivers: ``f8[:]`` / ``i4[:,:]`` are C-contiguous arrays (NumPy,
CuPy and Numba device arrays all type that way), ``i4`` / ``b1`` NumPy
scalars, ``int`` / ``float`` / ``bool`` Python scalars. :func:`spec_of` turns
a launch argument into its spec, so a launch recorder can check the table.

No driver is needed, with one patch: numba-cuda compiles a called
(non-inlined) device function for ``get_current_device().compute_capability``,
which raises without a driver. :func:`target_cc` replaces that one name in
``numba.cuda.dispatcher`` for the duration of a compile. Device functions
compiled under it stay cached in their dispatcher, so compile in a process of
its own (as bench/ptx.py and tests/ptx do), or for the device's own cc.

Needs numba-cuda (``numba.cuda.implementation == "NVIDIA"``) with NVVM (the
``nvidia-nvvm`` wheel, or a toolkit found through ``CUDA_HOME``) and ptxas
(the ``nvidia-cuda-nvcc`` wheel, ``$HEXROUTE_PTXAS``, ``CUDA_HOME`` or
``/usr/local/cuda-13.0``). Importing this module needs neither: they are
imported when first used, and :class:`ToolchainMissing` says what is absent.
NVVM and ptxas must be of one CUDA release or ptxas older than NVVM rejects
the PTX (``Unsupported .version``).
"""
from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import os
import pkgutil
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

#: The compute capability the project is measured on (H200) and its ptxas arch.
TARGET_CC = (9, 0)
#: Block size the factories are compiled for: the drivers' production :data:`kernels.cuda._launch.THREADS`.
FACTORY_THREADS = 128
#: Toolkits tried for ptxas after the wheel and ``CUDA_HOME``.
TOOLKITS = ("/usr/local/cuda-13.0", "/usr/local/cuda")

_F8, _I4, _I8 = "f8[:]", "i4[:]", "i8[:]"

#: Argument specs per kernel, as the drivers in kernels/cuda/*.py launch them (``module.kernel``; a dict
#: when one kernel is launched with several signatures, keyed by a label for the table).
SIGNATURES: dict[str, str | dict[str, str]] = {
    # arrays.fill takes x.dtype.type(value) for the int32, float64 and bool scratch that inter.py fills.
    "arrays._fill": {"i4": "i4[:] i4", "f8": "f8[:] f8", "b1": "b1[:] b1"},
    "arrays._copy": "i4[:] i4[:]",  # the padded routes, flattened
    "arrays._rows_differ": "i4[:,:] i4[:,:] b1[:]",
    "distance._pair_distances": f"{_F8} {_F8} {_F8} {_F8} int float {_F8}",
    "distance._node_distances": f"{_I4} {_I4} {_F8} {_F8} {_F8} int float {_F8}",
    "distance._unit_vectors": f"{_F8} {_F8} f8[:,:]",
    "distance._route_lengths": f"{_I8} {_I4} {_I4} {_F8} {_F8} {_F8} int float {_F8}",
    "hilbert._hilbert_keys": f"{_F8} {_F8} float float float float {_I8}",
    # qa qb k metric scale, the HubGrid scalars (a0 b0 wa wb na nb origin slack_a slack_b), its arrays, outputs
    "nearest._nearest_hubs": f"{_F8} {_F8} int int float float float float float int int float float float "
                             f"{_I8} {_I4} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} {_I8} {_I4} i4[:,:] f8[:,:]",
    # tour_ptr nodes depot a b circ kg n svc spd cap_kg cap_n dur routes metric scale fws iws route_start cost
    # needs
    "split._unlimited_kernel": f"{_I8} {_I4} {_I4} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} "
                               f"{_I4} int float {_F8} {_I4} i1[:] {_F8} i1[:]",
    "split._layers_kernel": f"{_I4} {_I8} {_I8} {_I4} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} {_I4} {_F8} {_I4} "
                            f"{_F8} {_I4} i1[:] {_F8}",
    "split._counts_kernel": f"{_I8} {_I4} {_I4} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} "
                            f"int float {_F8} {_I4}",
    "split._next_fit_kernel": f"{_I8} {_I4} {_I4} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} "
                              f"int float {_F8} i1[:] {_F8}",
    # hub_ptr stops depot pair_ptr pair_i pair_j pair_d, eleven node/hub arrays, metric scale, 6 int + 5 float
    # scratch, tour_nodes route_start cost
    "savings._savings_kernel": f"{_I8} {_I4} {_I4} {_I8} {_I4} {_I4} {_F8} " + " ".join([_F8] * 11)
                               + f" int float {' '.join([_I4] * 6)} {' '.join([_F8] * 5)} {_I4} i1[:] {_F8}",
    # rows routes len depot a b circ svc spd dur metric scale passes k confirm, then the per-block workspace, out
    f"intra._kernel({FACTORY_THREADS})": f"{_I4} i4[:,:] {_I4} {_I4} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} "
                                         "int float int int bool f8[:,:] f8[:,:] i4[:,:] i4[:,:] i4[:,:] i4[:,:] "
                                         f"b1[:,:] {_F8}",
    "inter._reset_kernel": f"{_I4} int",
    "inter._stats_kernel": f"i4[:,:] {_I4} {_I4} {_I4} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} int float b1[:] "
                           f"i4[:,:] f8[:,:] f8[:,:] {_I4}",
    "inter._groups_kernel": f"{_I4} {_I4} b1[:]",
    "inter._eval_kernel": f"{_I4} {_I4} {_I4} i4[:,:] {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} {_F8} "
                          f"int float int i4[:,:] f8[:,:] f8[:,:] {_I4} b1[:] b1[:] {_F8} i4[:,:]",
    "inter._copy_kernel": "i4[:,:] i4[:,:]",
    "inter._apply_kernel": f"{_I4} i4[:,:] i4[:,:] {_I4} i4[:,:] i4[:,:]",
    "inter._candidates_kernel": f"{_F8} i4[:,:] float {_I4} {_I4} {_F8} i4[:,:]",
    "inter._touch_kernel": f"{_I4} i4[:,:] b1[:]",
}


def _intra_factory(module: ModuleType) -> dict[str, Any]:
    """intra.py builds its kernel per block size (shared arrays are sized by it): the production size."""
    return {f"_kernel({FACTORY_THREADS})": module._kernel(FACTORY_THREADS)}


#: Factories of modules that do not (yet) expose ``ptx_kernels()``: module name -> that function.
FALLBACK_FACTORIES: dict[str, Callable[[ModuleType], dict[str, Any]]] = {"intra": _intra_factory}


class ToolchainMissing(RuntimeError):
    """numba-cuda, NVVM or ptxas is not installed: the message names the piece and how to get it."""


# --- argument specs ---------------------------------------------------------------------------------------

_SCALARS = {"int": 0, "float": 0.0, "bool": False}


def example(spec: str) -> Any:
    """A small value the drivers would pass for one spec: arrays of one element per axis, scalars as typed."""
    import numpy as np

    if spec in _SCALARS:
        return _SCALARS[spec]
    code, bracket, dims = spec.partition("[")
    dtype = np.dtype(code)
    if not bracket:
        return dtype.type(0)
    ndim = dims.count(":")
    if not dims.endswith("]") or ndim == 0 or dims[:-1].replace(":", "").replace(",", "").strip():
        raise ValueError(f"bad array spec {spec!r}: use e.g. f8[:] or i4[:,:]")
    return np.zeros((1,) * ndim, dtype)


def spec_of(value: Any) -> str:
    """The spec of one launch argument (NumPy, CuPy, Numba or simulator arrays; Python or NumPy scalars)."""
    import numpy as np

    if isinstance(value, np.generic):  # before float: np.float64 is a float
        return value.dtype.str[1:]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    dtype, shape = getattr(value, "dtype", None), getattr(value, "shape", None)
    if dtype is None or shape is None:
        raise TypeError(f"no spec for a launch argument of type {type(value).__name__}")
    spec = f"{np.dtype(dtype).str[1:]}[{','.join(':' * len(shape))}]"
    return spec if _c_contiguous(value) else spec + "(A)"


def _c_contiguous(value: Any) -> bool:
    """Whether Numba would type ``value`` as a C-layout array (a non-contiguous one compiles as layout A)."""
    flags = getattr(value, "flags", None)
    if flags is not None:
        with contextlib.suppress(KeyError, TypeError):
            return bool(flags["C_CONTIGUOUS"])
    if hasattr(value, "is_c_contiguous"):
        return bool(value.is_c_contiguous())
    cai = getattr(value, "__cuda_array_interface__", None)
    return cai is None or cai.get("strides") is None


#: Specs that type alike: a Python scalar and the NumPy scalar Numba gives it.
_ALIKE = {"int": "i8", "float": "f8", "bool": "b1"}


def launch_name(fn: Any) -> str | None:
    """The :data:`SIGNATURES` base name of a launched kernel's Python function; None outside kernels.cuda.

    A kernel built inside a factory is named by the factory (``intra._kernel``),
    whatever block size it was built for.
    """
    module = getattr(fn, "__module__", "") or ""
    if not module.startswith(__package__ + "."):
        return None
    return f"{module[len(__package__) + 1:]}.{fn.__qualname__.split('.<locals>')[0]}"


def unexpected_launches(launches: dict[str, set[tuple[str, ...]]]) -> list[str]:
    """Launches (base name -> argument specs seen) whose signature :data:`SIGNATURES` does not list.

    For a launch recorder (e.g. around the simulator suite) to prove that the
    table is what the drivers really pass; Python and NumPy scalars that type
    alike (``int`` / ``i8``) compare equal.
    """
    known: dict[str, set[tuple[str, ...]]] = {}
    for variant, specs in signatures().items():
        base = variant.split("[")[0].split("(")[0]
        known.setdefault(base, set()).add(tuple(_ALIKE.get(s, s) for s in specs))
    problems = []
    for name, seen in sorted(launches.items()):
        if name not in known:
            problems.append(f"{name}: launched but has no entry in kernels.cuda.ptx.SIGNATURES")
            continue
        for specs in sorted(seen):
            if tuple(_ALIKE.get(s, s) for s in specs) not in known[name]:
                problems.append(f"{name}: launched with ({' '.join(specs)}), not in SIGNATURES")
    return problems


def signatures() -> dict[str, list[str]]:
    """Each compiled variant's name (``module.kernel`` or ``module.kernel[label]``) and its argument specs."""
    out: dict[str, list[str]] = {}
    for name, spec in SIGNATURES.items():
        variants = spec if isinstance(spec, dict) else {"": spec}
        for label, args in variants.items():
            out[f"{name}[{label}]" if label else name] = args.split()
    return out


def argtypes(specs: list[str]) -> tuple[Any, ...]:
    """Numba types of the specs, through numba-cuda's own ``typeof`` (what a launch types its arguments by)."""
    _numba_cuda()
    from numba.cuda.typing.typeof import Purpose, typeof

    return tuple(typeof(example(s), Purpose.argument) for s in specs)


# --- the toolchain ----------------------------------------------------------------------------------------

def _numba_cuda(require_nvidia: bool = True) -> Any:
    """``numba.cuda``, not the simulator; numba-cuda (not Numba's deprecated built-in target) to compile."""
    try:
        from numba import config, cuda
    except ImportError as exc:  # pragma: no cover - numba is a hard dependency
        raise ToolchainMissing(f"numba.cuda does not import ({exc})") from exc
    if config.ENABLE_CUDASIM:
        raise ToolchainMissing("NUMBA_ENABLE_CUDASIM is set: the simulator compiles nothing; run in a process "
                               "without it")
    if require_nvidia and getattr(cuda, "implementation", None) != "NVIDIA":
        raise ToolchainMissing("numba.cuda is Numba's built-in target, not numba-cuda: "
                               "pip install numba-cuda 'cuda-bindings==13.*'")
    importlib.import_module("numba.cuda.dispatcher")
    return cuda


def find_ptxas() -> str:
    """ptxas: ``$HEXROUTE_PTXAS``, the nvidia-cuda-nvcc wheel, ``CUDA_HOME``/``CUDA_PATH``, a toolkit, ``PATH``."""
    explicit = os.environ.get("HEXROUTE_PTXAS")
    if explicit:
        return explicit
    with contextlib.suppress(Exception):
        from cuda import pathfinder

        found = pathfinder.find_nvidia_binary_utility("ptxas")
        if found:
            return str(found)
    homes = [os.environ.get(v) for v in ("CUDA_HOME", "CUDA_PATH")] + list(TOOLKITS)
    for home in filter(None, homes):
        path = Path(home) / "bin" / "ptxas"
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which("ptxas")
    if found:
        return found
    raise ToolchainMissing("ptxas not found: pip install nvidia-cuda-nvcc (same CUDA release as nvidia-nvvm), "
                           "set HEXROUTE_PTXAS, or install a CUDA toolkit")


def ptxas_version(ptxas: str | None = None) -> str:
    """The release line of ``ptxas --version`` (e.g. ``release 13.0, V13.0.88``)."""
    text = subprocess.run([ptxas or find_ptxas(), "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"release [^\n]*", text)
    return match.group(0) if match else text.strip().splitlines()[-1]


_PROBE_SPECS = ["i4[:]", "i4"]


def _probe(out, value):  # type: ignore[no-untyped-def]
    out[0] = value


def check_toolchain(cc: tuple[int, int] = TARGET_CC) -> dict[str, str]:
    """Compile and assemble a one-line kernel; the versions found, or :class:`ToolchainMissing` saying what is not.

    numba-cuda needs libNVVM (nvidia-nvvm wheel or CUDA_HOME) and libNVRTC
    (nvidia-cuda-nvrtc wheel; it asks NVRTC which archs exist), ptxas is
    looked up by :func:`find_ptxas`, and ptxas must accept the PTX's ISA.
    """
    cuda = _numba_cuda()
    ptxas = find_ptxas()
    try:
        ptx = compile_kernel(cuda.jit(_probe), argtypes(_PROBE_SPECS), cc)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise ToolchainMissing(f"numba-cuda cannot compile for sm_{cc[0]}{cc[1]} ({type(exc).__name__}: "
                               f"{first}); pip install 'nvidia-nvvm==13.0.*' "
                               "'nvidia-cuda-nvrtc==13.0.*', or set CUDA_HOME to a CUDA toolkit") from exc
    try:
        assemble(ptx, cc, ptxas)
    except RuntimeError as exc:
        raise ToolchainMissing(f"{ptxas} rejects numba-cuda's PTX (NVVM and ptxas of different CUDA releases?): "
                               f"{str(exc).strip().splitlines()[-2:]}") from exc
    return versions(ptx, ptxas)


def versions(ptx: str, ptxas: str) -> dict[str, str]:
    """Versions that decide the figures: the Python packages, the NVVM that wrote ``ptx`` and ``ptxas``."""
    from importlib import metadata

    out = {}
    for dist in ("numba", "numba-cuda", "llvmlite", "cuda-bindings", "nvidia-nvvm", "nvidia-cuda-nvrtc",
                 "nvidia-cuda-nvcc"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    nvvm = re.search(r"^// Cuda compilation tools, (release .*)$", ptx, re.M)
    isa = re.search(r"^\.version (\S+)", ptx, re.M)
    out["nvvm"] = nvvm.group(1) if nvvm else "unknown"
    out["ptx_isa"] = isa.group(1) if isa else "unknown"
    out["ptxas"] = ptxas_version(ptxas)
    out["ptxas_path"] = ptxas.split("site-packages/")[-1]  # the wheel's path, or the toolkit's
    return out


# --- discovery --------------------------------------------------------------------------------------------

@dataclass
class Discovered:
    """The kernels of :mod:`kernels.cuda`, and the kernel factories no ``ptx_kernels()`` or fallback covers."""

    kernels: dict[str, Any] = field(default_factory=dict)
    unregistered: list[str] = field(default_factory=list)


def _is_kernel(obj: Any, dispatcher_type: type) -> bool:
    return isinstance(obj, dispatcher_type) and not obj.targetoptions.get("device", False)


def _nested_kernel_owners(module: ModuleType) -> set[str]:
    """Top-level functions of ``module`` that define a ``cuda.jit`` kernel inside them (kernel factories)."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return set()
    owners = set()
    for top in tree.body:
        if not isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(top):
            if node is not top and isinstance(node, ast.FunctionDef) and any(
                    _is_kernel_decorator(d) for d in node.decorator_list):
                owners.add(top.name)
    return owners


def _is_kernel_decorator(dec: ast.expr) -> bool:
    """``@cuda.jit`` or ``@cuda.jit(...)`` without ``device=True``."""
    call = dec if isinstance(dec, ast.Call) else None
    target = call.func if call else dec
    if not (isinstance(target, ast.Attribute) and target.attr == "jit"):
        return False
    if call is None:
        return True
    return not any(k.arg == "device" and isinstance(k.value, ast.Constant) and k.value.value for k in call.keywords)


def _raise(name: str) -> None:
    raise ImportError(f"kernels.cuda: {name} does not import")


def _factory_kernels(module: ModuleType, short: str) -> dict[str, Any]:
    """What ``module.ptx_kernels()`` returns, else its :data:`FALLBACK_FACTORIES` entry, else nothing."""
    registry = getattr(module, "ptx_kernels", None)
    if registry is not None:
        return dict(registry())
    fallback = FALLBACK_FACTORIES.get(short)
    return fallback(module) if fallback else {}


def discover() -> Discovered:
    """Import every module of :mod:`kernels.cuda` (subpackages too) and collect its kernels by ``module.name``."""
    _numba_cuda(require_nvidia=False)
    from numba.cuda.dispatcher import CUDADispatcher

    import kernels.cuda as package

    found = Discovered()
    for info in sorted(pkgutil.walk_packages(package.__path__, onerror=_raise), key=lambda i: i.name):
        if info.name == "ptx":
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for attr, obj in vars(module).items():
            if _is_kernel(obj, CUDADispatcher) and obj.py_func.__module__ == module.__name__:
                found.kernels[f"{info.name}.{attr}"] = obj
        made = _factory_kernels(module, info.name)
        for name, obj in made.items():
            if not _is_kernel(obj, CUDADispatcher):
                raise TypeError(f"{module.__name__}.ptx_kernels()[{name!r}] is not a CUDA kernel")
            found.kernels[f"{info.name}.{name}"] = obj
        covered = {name.split("(")[0] for name in made}
        found.unregistered += [f"{info.name}.{owner}" for owner in sorted(_nested_kernel_owners(module) - covered)]
    return found


# --- compiling and assembling -----------------------------------------------------------------------------

@contextlib.contextmanager
def target_cc(cc: tuple[int, int] = TARGET_CC) -> Iterator[None]:
    """Make numba-cuda's device-function dispatch compile for ``cc`` instead of asking the current device.

    The one place that asks is ``get_current_device()`` as imported into
    ``numba.cuda.dispatcher`` (``compile_device`` for a called device
    function, and kernel compilation, which this module does not use); kernels
    themselves are compiled with an explicit ``cc``. Only that name is replaced,
    and only inside the ``with``. Tested with numba-cuda 0.30.
    """
    _numba_cuda()
    from numba.cuda import dispatcher

    if not hasattr(dispatcher, "get_current_device"):  # another numba-cuda layout: compile errors will say so
        yield
        return
    saved = dispatcher.get_current_device
    device = SimpleNamespace(compute_capability=tuple(cc), name=f"sm_{cc[0]}{cc[1]} (compile only)")
    dispatcher.get_current_device = lambda: device
    try:
        yield
    finally:
        dispatcher.get_current_device = saved


@contextlib.contextmanager
def _nvvm_contraction(enabled: bool) -> Iterator[None]:
    """With ``enabled=False``, compile with NVVM's ``-fma=0`` (no contraction of a*b+c); for measuring only.

    NVVM contracts by default (``-fma=1``) and ``fastmath=False`` does not turn
    that off; numba-cuda has no option for it, so this wraps ``nvvm.compile_ir``.
    """
    if enabled:
        yield
        return
    from numba.cuda.cudadrv import nvvm

    saved = nvvm.compile_ir

    def compile_ir(llvmir: Any, **options: Any) -> Any:
        options["fma"] = False
        return saved(llvmir, **options)

    nvvm.compile_ir = compile_ir
    try:
        yield
    finally:
        nvvm.compile_ir = saved


def compile_kernel(kernel: Any, types: tuple[Any, ...], cc: tuple[int, int] = TARGET_CC,
                   contract: bool = True) -> str:
    """PTX of ``kernel`` (a ``cuda.jit`` dispatcher) for argument ``types`` and ``cc``, with its own options."""
    cuda = _numba_cuda()
    opts = kernel.targetoptions
    with target_cc(cc), _nvvm_contraction(contract):
        ptx, _ = cuda.compile_ptx(kernel.py_func, types, cc=tuple(cc), fastmath=bool(opts.get("fastmath", False)),
                                  lineinfo=bool(opts.get("lineinfo", False)), opt=opts.get("opt", True),
                                  launch_bounds=opts.get("launch_bounds"))
    return ptx


@dataclass
class Assembled:
    """What ptxas says about one kernel: the entry's figures, spills summed over it and the functions it calls."""

    registers: int
    spill_stores: int
    spill_loads: int
    stack_bytes: int
    shared_bytes: int
    barriers: int
    log: str


_ENTRY = re.compile(r"Compiling entry function '([^']+)'")
_PROPS = re.compile(r"Function properties for (\S+)\s+(\d+) bytes stack frame, (\d+) bytes spill stores, "
                    r"(\d+) bytes spill loads")
_USED = re.compile(r"Used (\d+) registers")


def _figure(pattern: str, text: str) -> int:
    match = re.search(pattern, text)
    return int(match.group(1)) if match else 0


def assemble(ptx: str, cc: tuple[int, int] = TARGET_CC, ptxas: str | None = None,
             max_registers: int | None = None) -> Assembled:
    """Run ``ptxas -arch=sm_XY -v`` on ``ptx``; raise RuntimeError with its log when it does not assemble.

    ``max_registers`` is a kernel's ``cuda.jit(max_registers=...)``, which numba-cuda hands to its linker.
    """
    ptxas = ptxas or find_ptxas()
    arch = f"sm_{cc[0]}{cc[1]}"
    limit = [f"--maxrregcount={int(max_registers)}"] if max_registers else []
    with tempfile.TemporaryDirectory(prefix="hexroute-ptx-") as tmp:
        src = Path(tmp) / "kernel.ptx"
        src.write_text(ptx)
        run = subprocess.run([ptxas, f"-arch={arch}", "-v", *limit, "-o", str(Path(tmp) / "kernel.cubin"), str(src)],
                             capture_output=True, text=True)
    log = run.stdout + run.stderr
    if run.returncode != 0:
        raise RuntimeError(f"ptxas -arch={arch} failed ({run.returncode}):\n{log}")
    entries = _ENTRY.findall(log)
    if len(entries) != 1:
        raise RuntimeError(f"expected one entry function in the PTX, ptxas reports {len(entries)}:\n{log}")
    props = {m.group(1): tuple(map(int, m.groups()[1:])) for m in _PROPS.finditer(log)}
    entry = entries[0]
    # the entry's resource line follows its "Function properties" block
    tail = log[log.index(f"Function properties for {entry}"):]
    used = tail[_USED.search(tail).start():].splitlines()[0] if _USED.search(tail) else ""
    stack = _figure(r"(\d+) bytes cumulative stack size", used) or props.get(entry, (0, 0, 0))[0]
    return Assembled(
        registers=_figure(r"Used (\d+) registers", used),
        spill_stores=sum(p[1] for p in props.values()),
        spill_loads=sum(p[2] for p in props.values()),
        stack_bytes=max(stack, max((p[0] for p in props.values()), default=0)),
        shared_bytes=_figure(r"(\d+) bytes smem", used),
        barriers=_figure(r"used (\d+) barriers", used),
        log=log,
    )


@dataclass
class Report:
    """One kernel variant compiled and assembled for ``arch``."""

    name: str
    arch: str
    args: list[str]
    registers: int
    spill_stores: int
    spill_loads: int
    stack_bytes: int
    shared_bytes: int
    barriers: int
    compile_s: float
    assemble_s: float
    ptx_lines: int
    fma_f64: int

    def as_dict(self) -> dict[str, Any]:
        """For JSON."""
        return asdict(self)


def fma_count(ptx: str) -> int:
    """``fma.rn.f64`` instructions in ``ptx`` (contracted a*b+c, and libdevice's own polynomials)."""
    return len(re.findall(r"\bfma\.rn\.f64\b", ptx))


def measure(name: str, kernel: Any, specs: list[str], cc: tuple[int, int] = TARGET_CC,
            ptxas: str | None = None) -> tuple[Report, str]:
    """Compile and assemble one kernel variant; its report and its PTX."""
    t0 = time.perf_counter()
    ptx = compile_kernel(kernel, argtypes(specs), cc)
    t1 = time.perf_counter()
    asm = assemble(ptx, cc, ptxas, kernel.targetoptions.get("max_registers"))
    t2 = time.perf_counter()
    report = Report(name=name, arch=f"sm_{cc[0]}{cc[1]}", args=specs, registers=asm.registers,
                    spill_stores=asm.spill_stores, spill_loads=asm.spill_loads, stack_bytes=asm.stack_bytes,
                    shared_bytes=asm.shared_bytes, barriers=asm.barriers, compile_s=round(t1 - t0, 3),
                    assemble_s=round(t2 - t1, 3), ptx_lines=ptx.count("\n") + 1, fma_f64=fma_count(ptx))
    return report, ptx


def variants(found: Discovered | None = None) -> dict[str, tuple[Any, list[str]]]:
    """Every compiled variant: name -> (kernel, specs); a discovered kernel with no signature raises KeyError."""
    found = found or discover()
    table = signatures()
    out = {}
    for name, kernel in found.kernels.items():
        rows = {v: s for v, s in table.items() if v == name or v.startswith(name + "[")}
        if not rows:
            raise KeyError(f"kernels.cuda.{name} has no entry in kernels.cuda.ptx.SIGNATURES")
        out.update({v: (kernel, s) for v, s in rows.items()})
    return out


def measure_all(cc: tuple[int, int] = TARGET_CC, names: list[str] | None = None) -> list[Report]:
    """Compile and assemble every kernel variant (or those in ``names``), in name order."""
    ptxas = find_ptxas()
    table = variants()
    return [measure(n, *table[n], cc=cc, ptxas=ptxas)[0] for n in sorted(names or table)]
