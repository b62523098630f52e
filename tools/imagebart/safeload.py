"""Loading untrusted pickles (official checkpoints, schedule tables) without ever running their code.

A pickle can call any importable function while it is read. Official checkpoints are PyTorch Lightning
zip archives whose pickle names classes (callbacks are keyed by their class, hyper-parameters may hold
AttributeDict/OmegaConf objects), so `torch.load(weights_only=True)` refuses many of them. Then our own
restricted reader takes over. It cannot go through `torch.load(pickle_module=...)`: torch 1.13 silently
replaces that module by the standard `pickle` unless weights_only is set, which would run the file's
code. So the reader opens the zip archive itself, unpickles `data.pkl` with an Unpickler that resolves
only tensor-rebuild names (implemented here, not torch's) and turns every other global into an inert
placeholder class, and builds tensors from the archive's raw storage records with bounds checks.
Nothing named by the file is ever imported or called.

Schedule tables hold numpy arrays and scalars; their unpickler allows numpy's reconstruction globals and
refuses everything else.
"""

import collections
import os
import pickle
import zipfile

import numpy as np
import torch


class UnsafeFileError(ValueError):
    """The file cannot be read safely, or is not what it claims to be."""


class Inert:
    """Stands in for a global the restricted unpickler does not allow. Calling it, building it, or
    filling it stores the data and does nothing else."""

    inert_global = "?"

    def __new__(cls, *args, **kwargs):
        # NEWOBJ builds instances without calling __init__, so the fields are set here.
        self = object.__new__(cls)
        self.inert_args = args
        self.inert_kwargs = kwargs
        self.inert_state = None
        self.inert_items = []
        return self

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.inert_state = state

    def __setitem__(self, key, value):
        self.inert_items.append((key, value))

    def append(self, value):
        self.inert_items.append(value)

    def extend(self, values):
        self.inert_items.extend(values)

    def __repr__(self):
        return f"<inert {self.inert_global}>"


_inert_classes = {}


def inert_class(module, name):
    """One placeholder class per global name, so that a class used as a dict key stays one key."""
    key = f"{module}.{name}"
    if key not in _inert_classes:
        _inert_classes[key] = type("Inert:" + key, (Inert,), {"inert_global": key})
    return _inert_classes[key]


_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool, "UntypedStorage": torch.uint8,
}


class StorageKind:
    """What a storage-type global resolves to: just its dtype."""

    def __init__(self, dtype):
        self.dtype = dtype


def _ints(value, what):
    if not isinstance(value, (tuple, list)) or not all(type(v) is int for v in value):
        raise UnsafeFileError(f"bad tensor {what}")
    return tuple(value)


def _rebuild_tensor(storage, storage_offset, size, stride, *ignored):
    """A strided view of a storage, after checking that it stays inside the storage."""
    if not isinstance(storage, torch.Tensor) or type(storage_offset) is not int:
        raise UnsafeFileError("bad tensor record")
    size, stride = _ints(size, "size"), _ints(stride, "stride")
    if len(size) != len(stride) or storage_offset < 0 or min(size + stride, default=0) < 0:
        raise UnsafeFileError("bad tensor shape")
    if 0 not in size:
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= storage.numel():
            raise UnsafeFileError("tensor reaches outside its storage")
    return torch.as_strided(storage, size, stride, storage_offset)


def _rebuild_parameter(data, *ignored):
    if not isinstance(data, torch.Tensor):
        raise UnsafeFileError("bad parameter record")
    return data


def _checkpoint_globals():
    allowed = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    }
    for name, dtype in _STORAGE_DTYPES.items():
        allowed[("torch", name)] = allowed[("torch.cuda", name)] = StorageKind(dtype)
    return allowed


_CHECKPOINT_GLOBALS = _checkpoint_globals()


class CheckpointUnpickler(pickle.Unpickler):
    """Unpickles a torch zip archive's data.pkl: tensors are rebuilt by our own functions from the
    archive's storage records, every other global becomes inert."""

    def __init__(self, file, archive, prefix):
        super().__init__(file, encoding="utf-8")
        self.archive = archive
        self.prefix = prefix
        self.storages = {}

    def find_class(self, module, name):
        found = _CHECKPOINT_GLOBALS.get((module, name))
        return found if found is not None else inert_class(module, name)

    def persistent_load(self, pid):
        if (not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage"
                or not isinstance(pid[1], StorageKind) or not isinstance(pid[2], str)
                or type(pid[4]) is not int or pid[4] < 0):
            raise UnsafeFileError("bad storage reference")
        kind, key, numel = pid[1], pid[2], pid[4]
        if key not in self.storages:
            self.storages[key] = self._read_storage(kind.dtype, key, numel)
        return self.storages[key]

    def _read_storage(self, dtype, key, numel):
        name = f"{self.prefix}data/{key}"
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise UnsafeFileError(f"missing storage record {name}") from None
        nbytes = numel * torch.empty((), dtype=dtype).element_size()
        if info.file_size < nbytes:
            raise UnsafeFileError(f"storage record {name} is too short")
        raw = bytearray(self.archive.read(name)[:nbytes])
        if nbytes == 0:
            return torch.empty(0, dtype=dtype)
        return torch.frombuffer(raw, dtype=dtype)


def _refuse_torchscript(names, path):
    """torch.load hands TorchScript archives to torch.jit.load, which runs their code: refuse them."""
    if any(os.path.basename(n) == "constants.pkl" or "/code/" in n for n in names):
        raise UnsafeFileError(f"{path}: a TorchScript archive, not a checkpoint; refusing to load it")


def _read_zip_checkpoint(path):
    """Our own reader of torch's zip format (see the module docstring for why)."""
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise UnsafeFileError(f"{path}: not a PyTorch checkpoint archive (no single data.pkl)")
        prefix = pickles[0][:-len("data.pkl")]
        if f"{prefix}byteorder" in archive.namelist():
            if archive.read(f"{prefix}byteorder").strip() != b"little":
                raise UnsafeFileError(f"{path}: big-endian checkpoints are not supported")
        with archive.open(pickles[0]) as f:
            return CheckpointUnpickler(f, archive, prefix).load()


def load_checkpoint(path):
    """The whole checkpoint object, tensors on the CPU; non-tensor objects may be Inert.
    Never runs code from the file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    is_zip = zipfile.is_zipfile(path)
    if is_zip:
        try:
            with zipfile.ZipFile(path) as archive:
                _refuse_torchscript(archive.namelist(), path)
        except zipfile.BadZipFile as e:
            raise UnsafeFileError(f"{path}: damaged zip archive ({e})") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass  # the pickle names non-tensor globals: read it with inert placeholders instead
    except Exception as e:
        raise UnsafeFileError(f"{path}: not a readable PyTorch checkpoint ({e})") from None
    if not is_zip:
        raise UnsafeFileError(f"{path}: a legacy (pre-zip) checkpoint with non-tensor objects; "
                              "it cannot be read safely")
    try:
        return _read_zip_checkpoint(path)
    except UnsafeFileError as e:
        raise UnsafeFileError(f"{path}: {e}") from None
    except Exception as e:  # a hostile or damaged file can raise anything; report it, run nothing
        raise UnsafeFileError(f"{path}: cannot be read safely ({type(e).__name__}: {e})") from None


def load_state_dict(path):
    """The `state_dict` of a Lightning checkpoint (or the file itself if it is a plain state dict):
    only the entries that are tensors."""
    obj = load_checkpoint(path)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise UnsafeFileError(f"{path}: holds no state_dict")
    return collections.OrderedDict((k, v) for k, v in obj.items()
                                   if isinstance(k, str) and isinstance(v, torch.Tensor))


def _numpy_globals():
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    multiarray = np.core.multiarray
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = multiarray._reconstruct
        allowed[(module, "scalar")] = multiarray.scalar
    return allowed


_NUMPY_GLOBALS = _numpy_globals()


class NumpyUnpickler(pickle.Unpickler):
    """Plain containers and numpy arrays/scalars only; any other global refuses the file."""

    def find_class(self, module, name):
        found = _NUMPY_GLOBALS.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a schedule table")
        return found


def load_schedule_pickle(path):
    """A reference schedule table (data/<dset>_schedule_vs_metric.p): dict of dicts of arrays."""
    try:
        with open(path, "rb") as f:
            table = NumpyUnpickler(f).load()
    except OSError as e:
        raise UnsafeFileError(f"{path}: {e.strerror}") from None
    except Exception as e:
        raise UnsafeFileError(f"{path}: not a schedule table that can be read safely ({e})") from None
    if not isinstance(table, dict):
        raise UnsafeFileError(f"{path}: not a schedule table (a {type(table).__name__})")
    return table
