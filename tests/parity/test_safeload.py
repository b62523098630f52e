#!/usr/bin/python3
"""The checkpoint and schedule-table readers never run code from the file: a pickle that would call
os.system stays inert (or the file is refused), and tensors still come back intact."""

import collections
import os
import pickle
import unittest
import zipfile

import numpy as np

import parity_util  # noqa: F401  (sets up sys.path and torch threads)
from parity_util import TempDirTestCase
import torch

from imagebart import safeload


class Exploit:
    """Unpickling this calls os.system(command)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class LightningCallback:
    """Stands in for a class that Lightning uses as a dict key in 'callbacks'."""


class AttributeDict(dict):
    """Like pytorch_lightning's AttributeDict in 'hyper_parameters'."""


class SafeLoadTest(TempDirTestCase):
    def setUp(self):
        self.marker = os.path.join(self.tmp, "code-ran")
        if os.path.exists(self.marker):
            os.remove(self.marker)

    def exploit(self):
        return Exploit(f"touch {self.marker}")

    def assert_no_code_ran(self):
        self.assertFalse(os.path.exists(self.marker), "the file ran code while being read")

    def lightning_checkpoint(self, name, extra):
        sd = collections.OrderedDict(
            [("transformer.w", torch.arange(6, dtype=torch.float32).reshape(2, 3)),
             ("transformer.p", torch.nn.Parameter(torch.full((2,), 0.5))),
             ("half", torch.ones(3, dtype=torch.float16)),
             ("view", torch.arange(10.0)[2:8:2])])
        hp = AttributeDict(lr=1.0)
        ckpt = {"state_dict": sd, "epoch": 3, "optimizer_states": [{"state": {0: {"exp_avg": torch.zeros(2)}}}],
                "callbacks": {LightningCallback: {"best_model_score": torch.tensor(0.5)}},
                "hyper_parameters": hp}
        ckpt.update(extra)
        path = os.path.join(self.tmp, name)
        torch.save(ckpt, path)
        return path, sd

    def test_plain_state_dict_goes_through_weights_only(self):
        path = os.path.join(self.tmp, "plain.ckpt")
        torch.save({"state_dict": {"a": torch.ones(2)}}, path)
        self.assertTrue(torch.equal(safeload.load_state_dict(path)["a"], torch.ones(2)))

    def test_lightning_checkpoint_with_exploit_stays_inert(self):
        path, sd = self.lightning_checkpoint("evil.ckpt", {"payload": self.exploit()})
        obj = safeload.load_checkpoint(path)
        self.assert_no_code_ran()
        self.assertIsInstance(obj["payload"], safeload.Inert)
        self.assertIn("system", obj["payload"].inert_global)
        (callback_class,) = obj["callbacks"].keys()
        self.assertTrue(issubclass(callback_class, safeload.Inert))
        state = safeload.load_state_dict(path)
        self.assertEqual(list(state), list(sd))
        for k, v in sd.items():
            self.assertTrue(torch.equal(state[k], v.detach()), k)

    def test_exploit_inside_the_state_dict(self):
        path, _ = self.lightning_checkpoint("evil2.ckpt", {})
        torch.save({"state_dict": {"a": torch.ones(1), "b": self.exploit()}}, path)
        state = safeload.load_state_dict(path)
        self.assert_no_code_ran()
        self.assertEqual(list(state), ["a"])

    def test_exploit_as_tensor_argument_is_refused(self):
        class EvilTensor(torch.Tensor):
            def __reduce_ex__(inner, protocol):
                return (os.system, (f"touch {self.marker}",))
        path = os.path.join(self.tmp, "evil3.ckpt")
        torch.save({"state_dict": {"a": torch.ones(1).as_subclass(EvilTensor)}}, path)
        try:
            state = safeload.load_state_dict(path)
            self.assertNotIn("a", state)
        except safeload.UnsafeFileError:
            pass
        self.assert_no_code_ran()

    def test_legacy_pickle_with_exploit_is_refused(self):
        path = os.path.join(self.tmp, "legacy.ckpt")
        torch.save({"state_dict": {"a": torch.ones(1)}, "x": self.exploit()}, path,
                   _use_new_zipfile_serialization=False)
        with self.assertRaises(safeload.UnsafeFileError):
            safeload.load_checkpoint(path)
        self.assert_no_code_ran()

    def test_torchscript_archive_is_refused(self):
        path = os.path.join(self.tmp, "script.ckpt")
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("archive/data.pkl", pickle.dumps({}))
            z.writestr("archive/constants.pkl", pickle.dumps(()))
        with self.assertRaisesRegex(safeload.UnsafeFileError, "TorchScript"):
            safeload.load_checkpoint(path)

    def test_truncated_storage_is_refused(self):
        path, _ = self.lightning_checkpoint("short.ckpt", {"payload": LightningCallback()})
        broken = path + ".broken"
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(broken, "w") as dst:
            for info in src.infolist():
                data = src.read(info)
                dst.writestr(info, data[:2] if "/data/" in info.filename else data)
        with self.assertRaises(safeload.UnsafeFileError):
            safeload.load_state_dict(broken)

    def test_schedule_table(self):
        path = os.path.join(self.tmp, "table.p")
        table = {"bernoulli": {"alphacum": np.linspace(1, 0, 5), "PSIM": [[np.float64(0.5), 0.0]]}}
        with open(path, "wb") as f:
            pickle.dump(table, f)
        back = safeload.load_schedule_pickle(path)
        np.testing.assert_array_equal(back["bernoulli"]["alphacum"], table["bernoulli"]["alphacum"])

    def test_schedule_table_with_exploit_is_refused(self):
        path = os.path.join(self.tmp, "evil.p")
        with open(path, "wb") as f:
            pickle.dump({"bernoulli": {"alphacum": self.exploit()}}, f)
        with self.assertRaises(safeload.UnsafeFileError):
            safeload.load_schedule_pickle(path)
        self.assert_no_code_ran()


if __name__ == "__main__":
    unittest.main()
