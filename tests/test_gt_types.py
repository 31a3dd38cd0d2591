"""Tests for gradtrack.types: the Tinkex type vectors (TINKEX_SPEC §9, 34–49) and our rules."""

from __future__ import annotations

import enum
import json
import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradtrack.types import (
    DTYPES,
    LOSS_FN_INPUT_DTYPES,
    CustomLossOutput,
    Datum,
    EncodedTextChunk,
    ForwardBackwardOutput,
    ImageAssetPointerChunk,
    ImageChunk,
    ModelInput,
    RegularizerOutput,
    RegularizerSpec,
    TensorData,
)


def sum_reg(data, logprobs):
    return sum(logprobs), {"sum": True}


def scaled_reg(data, logprobs, opts):
    return opts["multiplier"] * sum(logprobs), {}


class ArrayLike:
    """A minimal duck-typed tensor: what Datum must accept besides ndarrays."""

    def __init__(self, values):
        self._values = np.asarray(values)
        self.shape = self._values.shape

    def __array__(self, dtype=None, copy=None):
        return self._values if dtype is None else self._values.astype(dtype)


# ---------------------------------------------------------------------------
# RegularizerSpec (vectors 34–36)
# ---------------------------------------------------------------------------


def test_spec_keeps_fields_and_defaults_to_sync():  # vector 34
    spec = RegularizerSpec(fn=sum_reg, weight=0.01, name="l1_sparsity")
    assert (spec.fn, spec.weight, spec.name) == (sum_reg, 0.01, "l1_sparsity")
    assert spec.is_async is False
    assert spec.opts is None


@pytest.mark.parametrize("weight", [1, 0.0, 0, np.float32(0.5), np.int64(2)])
def test_spec_accepts_ints_zero_and_numpy_reals(weight):  # vector 34
    assert RegularizerSpec(sum_reg, weight, "r").weight == weight


def test_spec_rejects_a_non_callable_fn():  # vector 35
    with pytest.raises(TypeError, match=r"fn must be callable.*'not a function'"):
        RegularizerSpec("not a function", 0.1, "r")


def test_spec_rejects_a_one_argument_fn():  # vector 35
    with pytest.raises(TypeError, match=r"fn must accept \(data, logprobs\)"):
        RegularizerSpec(lambda lp: lp, 0.1, "r")


def test_spec_rejects_a_four_argument_fn():
    with pytest.raises(TypeError, match="signature"):
        RegularizerSpec(lambda a, b, c, d: 0, 0.1, "r")


@pytest.mark.parametrize("weight", [-0.1, -1, float("nan"), float("inf"), -float("inf")])
def test_spec_rejects_negative_and_non_finite_weights(weight):  # vector 36
    with pytest.raises(ValueError, match=r"weight must be a finite non-negative number, got"):
        RegularizerSpec(sum_reg, weight, "r")


@pytest.mark.parametrize("weight", ["0.1", None, True, False, 1j, np.bool_(True), [0.1]])
def test_spec_rejects_weights_that_are_not_real_numbers(weight):  # vector 36
    with pytest.raises(
        TypeError, match="weight must be a real number, got " + re.escape(repr(weight))
    ):
        RegularizerSpec(sum_reg, weight, "r")


class Symbol(enum.Enum):
    L1 = "l1"


@pytest.mark.parametrize("name", [None, Symbol.L1, b"l1", 1])
def test_spec_rejects_names_that_are_not_strings(name):  # vector 36
    with pytest.raises(TypeError, match="name must be a non-empty string"):
        RegularizerSpec(sum_reg, 0.1, name)


def test_spec_rejects_an_empty_name():  # vector 36
    with pytest.raises(ValueError, match="name must be a non-empty string, got ''"):
        RegularizerSpec(sum_reg, 0.1, "")


@pytest.mark.parametrize("is_async", ["true", 1, None])
def test_spec_rejects_a_non_bool_is_async(is_async):  # vector 36
    with pytest.raises(
        TypeError, match="is_async must be a boolean, got " + re.escape(repr(is_async))
    ):
        RegularizerSpec(sum_reg, 0.1, "r", is_async=is_async)


def test_spec_requires_weight_and_name():  # vector 36 ("only fn given")
    with pytest.raises(TypeError):
        RegularizerSpec(sum_reg)  # type: ignore[call-arg]


def test_nan_weight_message_names_the_field():
    with pytest.raises(ValueError, match="weight"):
        RegularizerSpec(sum_reg, math.nan, "r")


def test_spec_rejects_opts_that_are_not_a_mapping():
    with pytest.raises(TypeError, match=r"opts must be a mapping or None, got \[1\]"):
        RegularizerSpec(sum_reg, 0.1, "r", opts=[1])


def test_validate_rechecks_fields_changed_after_construction():
    spec = RegularizerSpec(sum_reg, 0.1, "r")
    spec.validate()
    spec.weight = -2.0
    with pytest.raises(ValueError, match="weight"):
        spec.validate()
    spec.weight, spec.fn = 0.1, 42
    with pytest.raises(TypeError, match="fn"):
        spec.validate()


def test_spec_invokes_a_two_argument_fn_without_opts():  # vector 32
    spec = RegularizerSpec(sum_reg, 0.1, "sum", opts={"ignored": True})
    assert spec.invoke([], [1.0, 2.0, 3.0]) == (6.0, {"sum": True})


def test_spec_passes_opts_to_a_three_argument_fn():  # vector 32
    spec = RegularizerSpec(scaled_reg, 1.0, "scaled", opts={"multiplier": 2.0})
    assert spec.invoke([], [1.0, 2.0, 3.0]) == (12.0, {})


def test_spec_passes_opts_to_an_optional_third_parameter_named_opts():
    spec = RegularizerSpec(lambda data, lp, opts=None: (0.0, opts), 1.0, "r", opts={"a": 1})
    assert spec.invoke([], []) == (0.0, {"a": 1})


def test_spec_leaves_another_optional_third_parameter_alone():
    spec = RegularizerSpec(lambda data, lp, scale=3.0: (scale, {}), 1.0, "r", opts={"a": 1})
    assert spec.invoke([], []) == (3.0, {})


def test_spec_gives_a_fresh_empty_dict_when_opts_is_none():
    seen = []
    spec = RegularizerSpec(lambda data, lp, opts: seen.append(opts) or (0.0, {}), 1.0, "r")
    spec.invoke([], [])
    assert seen == [{}]


class L1Like:
    """An object following the compute(data, logprobs, opts) protocol; not callable."""

    def compute(self, data, logprobs, opts):
        return sum(abs(x) for x in logprobs) * opts.get("lambda_", 1.0), {"l1_value": 6.0}


def test_spec_accepts_and_invokes_an_object_with_compute():  # vector 33
    spec = RegularizerSpec(L1Like(), 1.0, "l1", opts={"lambda_": 1.0})
    assert spec.invoke([], [-1.0, 2.0, -3.0]) == (6.0, {"l1_value": 6.0})


def test_spec_rejects_a_compute_method_with_the_wrong_arity():
    class Bad:
        def compute(self, data):
            return 0.0, {}

    with pytest.raises(TypeError, match=r"compute must accept \(data, logprobs, opts\)"):
        RegularizerSpec(Bad(), 1.0, "bad")


def test_spec_does_not_copy_the_callers_opts_into_the_call():
    opts = {"multiplier": 1.0}
    spec = RegularizerSpec(lambda d, lp, opts: opts.clear() or (0.0, {}), 1.0, "r", opts=opts)
    spec.invoke([], [])
    assert opts == {"multiplier": 1.0}


# ---------------------------------------------------------------------------
# RegularizerOutput (vectors 37–39)
# ---------------------------------------------------------------------------


def test_output_from_computation_weights_value_and_grad_norm():  # vector 37
    out = RegularizerOutput.from_computation("l1_sparsity", 22.4, 0.01, {"l1_total": 44.8}, 7.48)
    assert out.contribution == pytest.approx(0.224, abs=1e-4)
    assert out.grad_norm == 7.48
    assert out.grad_norm_weighted == pytest.approx(0.0748, abs=1e-4)
    assert out.custom == {"l1_total": 44.8}


def test_output_without_grad_norm():  # vector 38
    out = RegularizerOutput.from_computation("entropy", 1.5, 0.001, {"entropy": 1.5})
    assert out.contribution == pytest.approx(0.0015)
    assert out.grad_norm is None
    assert out.grad_norm_weighted is None


def test_output_custom_none_becomes_empty_dict():  # vector 38
    assert RegularizerOutput.from_computation("test", 10, 0.1, None).custom == {}


def test_output_zero_weight_gives_zero_contribution():  # vector 38
    assert RegularizerOutput.from_computation("disabled", 100, 0.0, {}).contribution == 0.0


def test_output_keeps_a_zero_grad_norm():  # vector 38
    out = RegularizerOutput.from_computation("flat", 1.0, 0.5, {}, grad_norm=0.0)
    assert out.grad_norm == 0.0 and out.grad_norm is not None
    assert out.grad_norm_weighted == 0.0


def test_output_dict_without_grad_norm_has_no_grad_keys():  # vector 39
    d = RegularizerOutput.from_computation("l1", 10.0, 0.1, {"a": 1}).to_dict()
    assert d == {
        "name": "l1",
        "value": 10.0,
        "weight": 0.1,
        "contribution": 1.0,
        "custom": {"a": 1},
    }


def test_output_dict_with_grad_norm_has_both_grad_keys():  # vector 39
    d = RegularizerOutput.from_computation("l1", 10.0, 0.1, {}, grad_norm=5.0).to_dict()
    assert d["grad_norm"] == 5.0
    assert d["grad_norm_weighted"] == 0.5


def test_output_dict_keeps_a_zero_grad_norm():
    d = RegularizerOutput.from_computation("flat", 1.0, 0.5, {}, grad_norm=0.0).to_dict()
    assert d["grad_norm"] == 0.0 and d["grad_norm_weighted"] == 0.0


def test_output_grad_alignment_only_in_dict_when_set():
    out = RegularizerOutput.from_computation("r", 1.0, 1.0, {})
    assert "grad_alignment" not in out.to_dict()
    out.grad_alignment = 0.0
    assert out.to_dict()["grad_alignment"] == 0.0


def test_output_numbers_become_python_floats():
    out = RegularizerOutput.from_computation(
        "r", np.float32(2.0), np.float64(0.5), {}, grad_norm=np.array(3.0)
    )
    for value in (out.value, out.weight, out.contribution, out.grad_norm, out.grad_norm_weighted):
        assert type(value) is float
    assert (out.contribution, out.grad_norm_weighted) == (1.0, 1.5)


def test_output_rejects_a_non_numeric_value():
    with pytest.raises(TypeError, match="value must be a real number"):
        RegularizerOutput.from_computation("r", "1.0", 1.0, {})
    with pytest.raises(TypeError, match="value must be a real number"):
        RegularizerOutput.from_computation("r", np.array([1.0, 2.0]), 1.0, {})


def test_output_metrics_become_json_values():
    custom = {"np": np.float32(1.5), "arr": np.arange(2), "flag": np.bool_(True), "s": "x"}
    d = RegularizerOutput.from_computation("r", 1.0, 1.0, custom).to_dict()
    assert d["custom"] == {"np": 1.5, "arr": [0, 1], "flag": True, "s": "x"}
    assert type(d["custom"]["np"]) is float and type(d["custom"]["flag"]) is bool
    json.dumps(d)


def test_output_passes_string_and_bool_metrics_through():
    custom = {"mode": "maximize", "symmetric": False}
    assert RegularizerOutput.from_computation("r", 1.0, 1.0, custom).custom == custom


# ---------------------------------------------------------------------------
# CustomLossOutput (vectors 40–42)
# ---------------------------------------------------------------------------


def test_build_without_regularizers():  # vector 40
    out = CustomLossOutput.build(2.5, {"perplexity": 12.18}, [])
    assert out.loss_total == 2.5
    assert out.regularizer_total == 0.0
    assert out.regularizers == {}
    assert out.total_grad_norm is None
    assert out.base_loss == {"value": 2.5, "grad_norm": None, "custom": {"perplexity": 12.18}}
    assert out.loss == out.loss_total


def test_build_sums_contributions():  # vector 41
    a = RegularizerOutput("a", 0.224, 1.0, 0.224)
    b = RegularizerOutput("b", 0.15, 1.0, 0.15)
    out = CustomLossOutput.build(2.5, {}, [a, b])
    assert out.loss_total == pytest.approx(2.874, abs=1e-3)
    assert out.regularizer_total == pytest.approx(0.374, abs=1e-3)


def test_build_with_base_custom_none():  # vector 41
    assert CustomLossOutput.build(1.0, None, []).base_loss["custom"] == {}


def test_build_to_dict_with_grad_norms():  # vector 42
    l1 = RegularizerOutput.from_computation("l1", 10.0, 0.1, {"sum": 100}, grad_norm=5.0)
    out = CustomLossOutput.build(1.0, {"nll": 1.0}, [l1], base_grad_norm=3.14, total_grad_norm=5.67)
    d = json.loads(out.to_json())
    assert d["loss_total"] == 2.0
    assert d["regularizer_total"] == 1.0
    assert d["total_grad_norm"] == 5.67
    assert d["base_loss"] == {"value": 1.0, "grad_norm": 3.14, "custom": {"nll": 1.0}}
    assert d["regularizers"]["l1"] == {
        "name": "l1",
        "value": 10.0,
        "weight": 0.1,
        "contribution": 1.0,
        "grad_norm": 5.0,
        "grad_norm_weighted": 0.5,
        "custom": {"sum": 100},
    }


def test_dict_omits_total_grad_norm_when_none():  # vector 42
    d = CustomLossOutput.build(2.5, {"perplexity": 12.18}, []).to_dict()
    assert "total_grad_norm" not in d
    assert "grad_alignment" not in d
    assert d["base_loss"] == {"value": 2.5, "grad_norm": None, "custom": {"perplexity": 12.18}}


def test_dict_keeps_zero_grad_norms():
    out = CustomLossOutput.build(1.0, {}, [], base_grad_norm=0.0, total_grad_norm=0.0)
    d = out.to_dict()
    assert d["total_grad_norm"] == 0.0
    assert d["base_loss"]["grad_norm"] == 0.0


def test_dict_regularizer_entries_omit_missing_grad_fields():
    reg = RegularizerOutput.from_computation("r", 1.0, 1.0, {})
    entry = CustomLossOutput.build(0.0, {}, [reg]).to_dict()["regularizers"]["r"]
    assert "grad_norm" not in entry and "grad_norm_weighted" not in entry


def test_build_keeps_spec_order():
    names = ["zeta", "alpha", "mid"]
    outputs = [RegularizerOutput.from_computation(n, 1.0, 1.0, {}) for n in names]
    out = CustomLossOutput.build(0.0, {}, outputs)
    assert list(out.regularizers) == names
    assert list(out.to_dict()["regularizers"]) == names


def test_build_rejects_duplicate_names():
    reg = RegularizerOutput.from_computation("dup", 1.0, 1.0, {})
    with pytest.raises(ValueError, match="'dup'"):
        CustomLossOutput.build(0.0, {}, [reg, reg])


def test_build_rejects_outputs_of_another_type():
    with pytest.raises(TypeError, match="RegularizerOutput"):
        CustomLossOutput.build(0.0, {}, [{"name": "r", "contribution": 1.0}])


def test_build_with_grad_alignment():
    reg = RegularizerOutput.from_computation("r", 1.0, 1.0, {}, grad_norm=1.0)
    out = CustomLossOutput.build(
        0.0, {}, [reg], 1.0, 2.0, grad_alignment={"base": np.float32(0.5), "r": 1.0}
    )
    assert out.grad_alignment == {"base": 0.5, "r": 1.0}
    assert json.loads(out.to_json())["grad_alignment"] == {"base": 0.5, "r": 1.0}


def test_to_dict_is_json_for_numpy_metrics():
    out = CustomLossOutput.build(
        np.float32(2.0), {"nll": np.float64(2.0), "count": np.int64(3), "t": np.array(1.5)}, []
    )
    d = json.loads(json.dumps(out.to_dict()))
    assert d["base_loss"]["custom"] == {"nll": 2.0, "count": 3, "t": 1.5}
    assert type(out.loss_total) is float


def test_to_json_passes_keyword_arguments():
    text = CustomLossOutput.build(1.0, None, []).to_json(indent=2, sort_keys=True)
    assert text.startswith('{\n  "base_loss"')


def test_loss_is_a_read_only_property():
    out = CustomLossOutput.build(1.0, None, [])
    with pytest.raises(AttributeError):
        out.loss = 3.0  # type: ignore[misc]


# ---------------------------------------------------------------------------
# Datum (vectors 43–44)
# ---------------------------------------------------------------------------


def test_datum_converts_lists_by_key_dtype():  # vector 43
    d = Datum(ModelInput.from_ints([1]), {"weights": [1, 2, 3], "target_tokens": [9, 8]})
    weights, tokens = d.loss_fn_inputs["weights"], d.loss_fn_inputs["target_tokens"]
    assert (weights.dtype, weights.data, weights.shape) == ("float32", [1.0, 2.0, 3.0], [3])
    assert all(type(x) is float for x in weights.data)
    assert (tokens.dtype, tokens.data) == ("int64", [9, 8])


def test_datum_keeps_the_nested_shape_of_a_list():
    d = Datum(ModelInput.empty(), {"advantages": [[1, 2], [3, 4], [5, 6]]})
    assert d.loss_fn_inputs["advantages"].shape == [3, 2]
    assert d.loss_fn_inputs["advantages"].to_numpy().dtype == np.float32


@pytest.mark.parametrize("key", sorted(LOSS_FN_INPUT_DTYPES))
def test_datum_accepts_lists_under_every_known_key(key):
    td = Datum(ModelInput.empty(), {key: [1, 2]}).loss_fn_inputs[key]
    assert td.dtype == LOSS_FN_INPUT_DTYPES[key]


def test_datum_rejects_a_list_under_an_unknown_key():  # vector 44
    with pytest.raises(ValueError, match="Unsupported list value for loss_fn_inputs key 'custom"):
        Datum(ModelInput.empty(), {"custom_penalty": [0.1, 0.2]})


def test_datum_converts_an_array_under_any_key():  # vector 44
    d = Datum(ModelInput.empty(), {"custom_penalty": np.array([1, 2, 3], dtype=np.int64)})
    assert d.loss_fn_inputs["custom_penalty"] == TensorData([1, 2, 3], "int64", [3])


def test_datum_keeps_tensor_data_unchanged():
    td = TensorData([0.5], "float64")
    assert Datum(ModelInput.empty(), {"anything": td}).loss_fn_inputs["anything"] is td


def test_datum_converts_a_duck_typed_tensor():
    d = Datum(ModelInput.empty(), {"logprobs": ArrayLike(np.array([-1.0, -2.0], np.float32))})
    assert d.loss_fn_inputs["logprobs"] == TensorData([-1.0, -2.0], "float32", [2])


@pytest.mark.parametrize("value", [1.0, "abc", {"data": [1]}, None])
def test_datum_rejects_other_value_types_naming_the_key(value):
    with pytest.raises(ValueError, match="loss_fn_inputs key 'weights'"):
        Datum(ModelInput.empty(), {"weights": value})


def test_datum_rejects_non_string_keys():
    with pytest.raises(TypeError, match="keys must be str, got 7"):
        Datum(ModelInput.empty(), {7: [1]})


def test_datum_rejects_lossy_list_casts_naming_the_key():
    with pytest.raises(ValueError, match=r"key 'target_tokens'.*non-integer"):
        Datum(ModelInput.empty(), {"target_tokens": [1.5, 2.0]})
    with pytest.raises(ValueError, match="key 'weights'"):
        Datum(ModelInput.empty(), {"weights": ["a"]})
    with pytest.raises(ValueError, match="key 'weights'"):
        Datum(ModelInput.empty(), {"weights": [[1.0], [1.0, 2.0]]})


def test_datum_accepts_whole_floats_as_tokens():
    d = Datum(ModelInput.empty(), {"target_tokens": [1.0, 2.0]})
    assert d.loss_fn_inputs["target_tokens"].data == [1, 2]


def test_datum_rejects_unsupported_array_dtypes_naming_the_key():
    with pytest.raises(ValueError, match=r"key 'x'.*Unsupported tensor dtype: float16"):
        Datum(ModelInput.empty(), {"x": np.zeros(2, dtype=np.float16)})


def test_datum_requires_a_model_input():
    with pytest.raises(TypeError, match="model_input"):
        Datum([1, 2, 3])  # type: ignore[arg-type]


def test_datum_does_not_share_the_callers_dict():
    inputs = {"weights": [1.0]}
    d = Datum(ModelInput.empty(), inputs)
    d.loss_fn_inputs["extra"] = TensorData([1], "int64")
    assert list(inputs) == ["weights"]


def test_datum_to_dict():
    d = Datum(ModelInput.from_ints([1, 2]), {"target_tokens": [2, 3]})
    assert d.to_dict() == {
        "model_input": {"chunks": [{"tokens": [1, 2], "type": "encoded_text"}]},
        "loss_fn_inputs": {"target_tokens": {"data": [2, 3], "dtype": "int64", "shape": [2]}},
    }


# ---------------------------------------------------------------------------
# TensorData (vectors 45–46)
# ---------------------------------------------------------------------------


def test_from_numpy_keeps_float64():  # vector 45 (the original down-casts to float32)
    td = TensorData.from_numpy(np.array([1.0, 2.0, 3.0]))
    assert (td.dtype, td.shape, td.data) == ("float64", [3], [1.0, 2.0, 3.0])


def test_from_numpy_keeps_int32():  # vector 45 (the original widens to int64)
    td = TensorData.from_numpy(np.array([1, 2, 3], dtype=np.int32))
    assert (td.dtype, td.data) == ("int32", [1, 2, 3])


def test_from_numpy_flattens_row_major():  # vector 45
    td = TensorData.from_numpy(np.array([[1, 2], [3, 4]], dtype=np.int64))
    assert (td.shape, td.data) == ([2, 2], [1, 2, 3, 4])
    fortran = TensorData.from_numpy(np.asfortranarray([[1, 2], [3, 4]]))
    assert fortran.data == [1, 2, 3, 4]


def test_from_numpy_scalar_has_no_shape():  # vector 45
    td = TensorData.from_numpy(np.float64(42.5))
    assert (td.shape, td.data) == (None, [42.5])


@pytest.mark.parametrize("dtype", [np.float16, np.complex64, np.complex128, np.str_, object])
def test_from_numpy_rejects_unsupported_dtypes(dtype):  # vector 45
    with pytest.raises(ValueError, match="Unsupported tensor dtype"):
        TensorData.from_numpy(np.zeros(2, dtype=dtype))


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint8, np.uint16, np.uint32, np.bool_])
def test_from_numpy_widens_small_unsigned_and_bool_to_int64(dtype):
    td = TensorData.from_numpy(np.array([0, 1, 1], dtype=dtype))
    assert (td.dtype, td.data) == ("int64", [0, 1, 1])


def test_from_numpy_refuses_uint64_values_that_do_not_fit_int64():
    assert TensorData.from_numpy(np.array([5], dtype=np.uint64)).data == [5]
    with pytest.raises(ValueError, match="int64"):
        TensorData.from_numpy(np.array([2**63], dtype=np.uint64))


def test_from_numpy_accepts_lists_and_duck_typed_tensors():
    assert TensorData.from_numpy([[1.5], [2.5]]) == TensorData([1.5, 2.5], "float64", [2, 1])
    assert TensorData.from_numpy(ArrayLike([1, 2])).data == [1, 2]


def test_to_numpy_without_shape_is_one_dimensional():  # vector 46
    assert TensorData([1, 2, 3], "float32").to_numpy().shape == (3,)
    assert TensorData.from_numpy(np.float32(1.0)).to_numpy().shape == (1,)


def test_float32_round_trip():  # vector 46
    array = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    back = TensorData.from_numpy(array).to_numpy()
    assert back.dtype == np.float32
    assert back.tolist() == array.tolist()


def test_tensor_data_json():  # vector 46
    td = TensorData.from_numpy(np.array([1.0, 2.0, 3.0], dtype=np.float32))
    assert json.loads(json.dumps(td.to_dict())) == {
        "dtype": "float32",
        "data": [1.0, 2.0, 3.0],
        "shape": [3],
    }


def test_tensor_data_dict_always_has_shape():
    assert TensorData([1], "int64").to_dict() == {"data": [1], "dtype": "int64", "shape": None}


def test_tolist_returns_a_copy_of_data():
    td = TensorData([1, 2], "int32")
    listed = td.tolist()
    listed.append(3)
    assert listed == [1, 2, 3] and td.data == [1, 2]


@pytest.mark.parametrize("dtype", ["float16", "f4", "bfloat16", None, float, "FLOAT32"])
def test_unknown_dtype_names_are_rejected_by_name(dtype):
    with pytest.raises(ValueError, match=re.escape(f"Unsupported TensorData dtype {dtype!r}")):
        TensorData([1.0], dtype)


def test_numpy_dtype_objects_are_accepted():
    assert TensorData([1], np.dtype("int32")).dtype == "int32"
    assert TensorData([1], np.float64).dtype == "float64"


def test_data_is_cast_to_the_dtype():
    assert TensorData([1, 2], "float64").data == [1.0, 2.0]
    assert TensorData([1.0, 2.0], "int32").data == [1, 2]
    assert TensorData(np.array([0.1]), "float32").data == [float(np.float32(0.1))]


@pytest.mark.parametrize("data", [[1.5], [None], ["1"], [float("nan")]])
def test_data_that_does_not_fit_an_int_dtype_is_rejected(data):
    with pytest.raises(ValueError, match="int64"):
        TensorData(data, "int64")


def test_nested_data_is_rejected():
    with pytest.raises(ValueError, match="flat list"):
        TensorData([[1.0, 2.0]], "float32")


def test_shape_must_match_the_data():
    with pytest.raises(ValueError, match=r"shape \[2, 2\] holds 4 elements but data has 3"):
        TensorData([1, 2, 3], "int64", [2, 2])
    with pytest.raises(ValueError, match="non-negative ints"):
        TensorData([1, 2], "int64", [-1, -2])


def test_empty_tensors():
    td = TensorData.from_numpy(np.zeros((2, 0), dtype=np.int64))
    assert (td.data, td.shape) == ([], [2, 0])
    assert td.to_numpy().shape == (2, 0)
    assert TensorData([], "int64").to_numpy().dtype == np.int64


def test_constructor_round_trips_through_json():
    td = TensorData.from_numpy(np.arange(6, dtype=np.int32).reshape(2, 3))
    assert TensorData(**json.loads(json.dumps(td.to_dict()))) == td


def test_dtype_names():
    assert DTYPES == ("float32", "float64", "int64", "int32")


WIRE_DTYPES = [np.float32, np.float64, np.int64, np.int32]


def finite_elements(dtype):
    if np.issubdtype(dtype, np.floating):
        return hnp.from_dtype(np.dtype(dtype), allow_nan=False, allow_infinity=False)
    return None


finite_arrays = st.sampled_from(WIRE_DTYPES).flatmap(
    lambda dtype: hnp.arrays(
        dtype,
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
        elements=finite_elements(dtype),
    )
)


@given(
    hnp.arrays(
        dtype=st.sampled_from(WIRE_DTYPES),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=4),
    )
)
def test_from_numpy_to_numpy_round_trips(array):
    back = TensorData.from_numpy(array).to_numpy()
    assert back.dtype == array.dtype
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)


@given(finite_arrays)
def test_from_numpy_round_trips_through_json(array):
    td = TensorData.from_numpy(array)
    again = TensorData(**json.loads(json.dumps(td.to_dict())))
    assert again == td
    # A scalar comes back as a one-element vector (the wire form has no rank-0 shape).
    np.testing.assert_array_equal(again.to_numpy().reshape(array.shape), array)


@given(
    hnp.arrays(
        dtype=hnp.integer_dtypes() | hnp.unsigned_integer_dtypes(sizes=(8, 16, 32)),
        shape=hnp.array_shapes(min_dims=0, max_dims=2, max_side=3),
    )
)
def test_other_integer_arrays_keep_their_values(array):
    td = TensorData.from_numpy(array)
    assert td.dtype in ("int64", "int32")
    np.testing.assert_array_equal(td.to_numpy().reshape(array.shape), array)


# ---------------------------------------------------------------------------
# ModelInput (vectors 47–49)
# ---------------------------------------------------------------------------


def test_append_int_extends_the_text_chunk():  # vector 47
    mi = ModelInput.from_ints([1, 2]).append_int(3)
    assert mi.to_ints() == [1, 2, 3]
    assert len(mi.chunks) == 1


def test_append_int_on_empty_builds_one_chunk():  # vector 47
    mi = ModelInput.empty().append_int(1).append_int(2).append_int(3)
    assert mi.chunks == [EncodedTextChunk([1, 2, 3])]


def test_append_int_after_an_image_starts_a_text_chunk():  # vector 47
    image = ImageChunk("aGk=", "png", expected_tokens=2)
    mi = ModelInput([image]).append_int(42)
    assert mi.chunks == [image, EncodedTextChunk([42])]


def test_building_methods_do_not_change_the_original():
    original = ModelInput.from_ints([1])
    original.append_int(2)
    original.append(ImageChunk("aGk=", "png", 1))
    assert original.chunks == [EncodedTextChunk([1])]


def test_length_adds_text_and_image_tokens():  # vector 48
    mi = (
        ModelInput.from_ints([1, 2])
        .append(ImageChunk("aGk=", "png", expected_tokens=5))
        .append(ImageAssetPointerChunk("s3://img", "jpeg", expected_tokens=7))
    )
    assert mi.length() == 14


@pytest.mark.parametrize(
    "chunk", [ImageChunk("aGk=", "png"), ImageAssetPointerChunk("s3://img", "png")]
)
def test_length_needs_expected_tokens(chunk):  # vector 48
    with pytest.raises(ValueError, match="expected_tokens"):
        ModelInput([chunk]).length()


def test_model_input_json():  # vector 49
    assert json.dumps(ModelInput.from_ints([1, 2, 3]).to_dict()) == (
        '{"chunks": [{"tokens": [1, 2, 3], "type": "encoded_text"}]}'
    )


def test_to_ints_rejects_image_chunks():
    with pytest.raises(ValueError, match="Cannot convert non-text chunk to ints"):
        ModelInput.from_ints([1]).append(ImageChunk("aGk=", "png")).to_ints()


def test_image_chunk_from_bytes_and_json():
    chunk = ImageChunk.from_bytes(b"hi", "jpeg", expected_tokens=3)
    assert chunk.to_dict() == {
        "data": "aGk=",
        "format": "jpeg",
        "type": "image",
        "expected_tokens": 3,
    }
    assert "expected_tokens" not in ImageChunk("aGk=", "png").to_dict()


def test_pointer_chunk_json_drops_none_fields():
    assert ImageAssetPointerChunk("loc", "png").to_dict() == {
        "location": "loc",
        "format": "png",
        "type": "image_asset_pointer",
    }


def test_chunk_validation():
    with pytest.raises(ValueError, match="'gif'"):
        ImageChunk("aGk=", "gif")
    with pytest.raises(TypeError, match="from_bytes"):
        ImageChunk(b"raw", "png")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="position 1"):
        EncodedTextChunk([1, 2.5])
    with pytest.raises(TypeError, match="position 0"):
        EncodedTextChunk([True])
    with pytest.raises(TypeError, match="not a chunk"):
        ModelInput([[1, 2]])  # type: ignore[list-item]


def test_tokens_become_python_ints():
    tokens = ModelInput.from_ints(np.array([3, 4], dtype=np.int32)).to_ints()
    assert tokens == [3, 4] and all(type(t) is int for t in tokens)


# ---------------------------------------------------------------------------
# ForwardBackwardOutput
# ---------------------------------------------------------------------------


def test_forward_backward_output_to_dict_is_json():
    out = ForwardBackwardOutput(
        "cross_entropy",
        [{"logprobs": TensorData([-1.0, -2.0], "float32")}],
        {"loss": np.float64(0.25), "custom_metric": 7.0},
    )
    d = json.loads(json.dumps(out.to_dict()))
    assert d["loss_fn_outputs"][0]["logprobs"] == {
        "data": [-1.0, -2.0],
        "dtype": "float32",
        "shape": None,
    }
    assert d["metrics"] == {"loss": 0.25, "custom_metric": 7.0}


def test_forward_backward_output_defaults():
    out = ForwardBackwardOutput("cross_entropy")
    assert (out.loss_fn_outputs, out.metrics) == ([], {})


# ---------------------------------------------------------------------------
# With minigrad tensors (needs the minigrad package)
# ---------------------------------------------------------------------------


def test_to_tensor_returns_a_minigrad_tensor():
    import minigrad as mg

    tensor = TensorData([1, 2, 3, 4], "float32", [2, 2]).to_tensor()
    assert isinstance(tensor, mg.Tensor)
    assert tensor.shape == (2, 2)
    assert tensor.dtype == np.float32
    assert not tensor.requires_grad


def test_float64_survives_to_tensor():
    tensor = TensorData([0.1], "float64").to_tensor()
    assert np.asarray(tensor).dtype == np.float64
    assert np.asarray(tensor)[0] == 0.1


def test_from_numpy_accepts_a_tensor():
    import minigrad as mg

    td = TensorData.from_numpy(mg.Tensor(np.array([[1.0, 2.0]], dtype=np.float32)))
    assert td == TensorData([1.0, 2.0], "float32", [1, 2])


def test_datum_accepts_a_tensor_that_requires_grad():
    import minigrad as mg

    logprobs = mg.Tensor(np.array([-1.0, -0.5]), requires_grad=True)
    d = Datum(ModelInput.empty(), {"reference_logprobs": logprobs})
    assert d.loss_fn_inputs["reference_logprobs"] == TensorData([-1.0, -0.5], "float64", [2])


def test_zero_dim_tensor_metrics_become_numbers():
    import minigrad as mg

    out = RegularizerOutput.from_computation(
        "r", mg.Tensor(2.0), 0.5, {"t": mg.Tensor(1.5)}, grad_norm=mg.Tensor(0.0)
    )
    assert (out.value, out.contribution, out.grad_norm) == (2.0, 1.0, 0.0)
    assert json.loads(json.dumps(out.to_dict()))["custom"] == {"t": 1.5}
