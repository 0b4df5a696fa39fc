#!/usr/bin/python3
"""Regenerate the .npy fixtures in this directory with the real numpy.

Run from anywhere:  /usr/bin/python3 npy/testdata/make.py
(written with numpy 1.24). Besides the .npy files it writes manifest.json,
which records for every readable fixture its dtype (without byte order),
shape and values in C order, each value as a string (repr of a Python
float or int, so NaN, infinities and -0.0 survive), and for every fixture
the reader must reject, the numpy dtype it holds.
"""
import json
import os

import numpy as np
import numpy.lib.format as fmt

HERE = os.path.dirname(os.path.abspath(__file__))
manifest = {"readable": {}, "rejected": {}}


def save(name, arr, version=None):
    path = os.path.join(HERE, name)
    with open(path, "wb") as f:
        fmt.write_array(f, arr, version=version, allow_pickle=True)
    return path


def good(name, arr, version=None):
    save(name, arr, version)
    c = np.ascontiguousarray(arr).reshape(-1)
    if arr.dtype.kind == "f":
        values = [repr(float(v)) for v in c]
    else:
        values = [str(int(v)) for v in c]
    manifest["readable"][name] = {
        "dtype": arr.dtype.str[1:],
        "shape": list(arr.shape),
        "values": values,
        "fortran_order": bool(arr.flags.f_contiguous and not arr.flags.c_contiguous),
        "version": list(version or (1, 0)),
    }


def bad(name, arr):
    save(name, arr)
    manifest["rejected"][name] = str(arr.dtype.descr if arr.dtype.names else arr.dtype.str)


# Features [N, C, H, W] and [N, C], labels, filters, as evoprune uses them.
good("features_f4.npy", (np.arange(24, dtype="<f4").reshape(2, 3, 2, 2) - 10) / 4)
good("features_f8_2d.npy", np.linspace(-1, 1, 6, dtype="<f8").reshape(3, 2))
good("labels_i8.npy", np.array([3, 0, 9, 1, 1], dtype="<i8"))
good("filters_f4.npy", np.arange(16, dtype="<f4").reshape(4, 2, 1, 2) * 0.125)

# Special floats, half precision, big-endian floats.
good("special_f4.npy", np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4028235e38, 0.1], dtype="<f4"))
good("half_f2.npy", np.array([1, -2, 0.5, 65504, 6e-8, -np.inf, 0.333], dtype="<f2"))
good("be_f8.npy", np.array([1.5, -2.25, 1e300, np.pi], dtype=">f8"))
good("be_f4.npy", np.array([[1.25, -3], [7e-3, 1e20]], dtype=">f4"))

# Integers of every size, both byte orders, and bools.
good("i1.npy", np.array([-128, 127, 0, -1], dtype="|i1"))
good("u1.npy", np.array([0, 255, 7], dtype="|u1"))
good("be_i2.npy", np.array([[-32768, 32767], [-2, 300]], dtype=">i2"))
good("be_u2.npy", np.array([65535, 1, 256], dtype=">u2"))
good("i4.npy", np.array([-2**31, 2**31 - 1, 5], dtype="<i4"))
good("u4.npy", np.array([4294967295, 0, 65536], dtype="<u4"))
good("be_i8.npy", np.array([-2**63, 2**63 - 1, -5], dtype=">i8"))
good("u8.npy", np.array([2**63 - 1, 0, 12345678901234], dtype="<u8"))
good("b1.npy", np.array([[True, False, True], [False, False, True]], dtype="|b1"))

# 0-d, empty, Fortran order, format versions 2.0 and 3.0.
good("scalar_f8.npy", np.array(3.25, dtype="<f8"))
good("scalar_i4.npy", np.array(-7, dtype="<i4"))
good("empty_f4.npy", np.zeros((0, 3), dtype="<f4"))
good("fortran_i4.npy", np.asfortranarray(np.arange(24, dtype="<i4").reshape(2, 3, 4)))
good("fortran_f8.npy", np.asfortranarray(np.arange(6, dtype="<f8").reshape(2, 3) / 8))
good("v2_f4.npy", np.array([0.5, 1.5, -2.5], dtype="<f4"), version=(2, 0))
good("v3_i8.npy", np.arange(6, dtype="<i8").reshape(3, 2), version=(3, 0))

# dtypes the reader must reject.
bad("unicode_U3.npy", np.array(["ab", "xyz"], dtype="<U3"))
bad("bytes_S2.npy", np.array([b"ab", b"c"], dtype="|S2"))
bad("object.npy", np.array([1, "a", None], dtype=object))
bad("complex_c8.npy", np.array([1 + 2j], dtype="<c8"))
bad("datetime_M8.npy", np.array(["2024-01-02"], dtype="<M8[D]"))
bad("structured.npy", np.zeros(2, dtype=[("x", "<f4"), ("y", "<i4")]))

with open(os.path.join(HERE, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1, sort_keys=True)
    f.write("\n")
