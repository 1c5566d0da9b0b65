"""The compiled core: the registry as Python sees it, and descent's errors as Python exceptions."""
import pytest

from descent import _descent


def test_registry_lists_every_optimizer_with_its_options_and_slots():
    names = _descent.optimizer_names()
    assert "adam" in names and "sgd" in names
    for name in names:
        options = [info["name"] for info in _descent.option_info(name)]
        assert options[0] == "lr"
        slots, scalars = _descent.slot_names(name)
        assert set(_descent.slots_used(name, {})) <= set(slots)


def test_slots_used_follow_the_options():
    assert "max_exp_avg_sq" not in _descent.slots_used("adam", {})
    assert "max_exp_avg_sq" in _descent.slots_used("adam", {"amsgrad": True})


def test_bad_value_is_value_error_with_descents_message():
    with pytest.raises(ValueError, match=r"Adam: option 'lr' = -1 is out of range"):
        _descent.check_options("adam", {"lr": -1.0})


def test_unknown_name_is_key_error():
    with pytest.raises(KeyError, match="no option 'colour'"):
        _descent.check_options("adam", {"colour": 1.0})
    with pytest.raises(KeyError, match="nonesuch"):
        _descent.option_info("nonesuch")
