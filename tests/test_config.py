"""Config loading, merging and ``--config.a.b=value`` overrides."""

import pytest
from ml_collections import ConfigDict

from evalkit.config import apply_overrides, load_config_file, merge_into, split_overrides
from evalkit.errors import UserError


def make_cfg():
    return ConfigDict(
        {
            "seed": 0,
            "lr": 0.1,
            "name": "x",
            "flag": False,
            "lengths": (1, 2),
            "model": ConfigDict({"width": 8, "extra": None}),
        }
    )


def test_overrides_parse_by_type():
    cfg = make_cfg()
    apply_overrides(
        cfg,
        {
            "seed": "3",
            "lr": "2e-3",
            "name": "y",
            "flag": "true",
            "lengths": "(4, 5, 6)",
            "model.width": "16",
            "model.extra": "[1, 2]",
        },
    )
    assert (cfg.seed, cfg.lr, cfg.name, cfg.flag, cfg.lengths) == (3, 0.002, "y", True, (4, 5, 6))
    assert cfg.model.width == 16 and cfg.model.extra == [1, 2]


def test_unknown_key_names_the_closest():
    with pytest.raises(UserError, match="unknown config key 'model.widht'; did you mean 'model.width'"):
        apply_overrides(make_cfg(), {"model.widht": "3"})


def test_bad_value_says_what_type_is_expected():
    with pytest.raises(UserError, match=r"--config.seed='abc' is not a valid int"):
        apply_overrides(make_cfg(), {"seed": "abc"})


def test_section_cannot_be_overridden_as_a_value():
    with pytest.raises(UserError, match="is a section"):
        apply_overrides(make_cfg(), {"model": "3"})


def test_merge_rejects_unknown_keys_and_wrong_types():
    with pytest.raises(UserError, match="unknown config key 'model.depth'"):
        merge_into(make_cfg(), {"model": {"depth": 2}}, "")
    with pytest.raises(UserError, match="config key seed must be a int"):
        merge_into(make_cfg(), {"seed": "zero"}, "")


def test_split_overrides_both_forms():
    overrides, rest = split_overrides(["run", "c.py", "--config.a.b=1", "--config.c", "2", "--debug"])
    assert overrides == {"a.b": "1", "c": "2"} and rest == ["run", "c.py", "--debug"]


def test_config_file_with_argument(tmp_path):
    path = tmp_path / "c.py"
    path.write_text(
        "from ml_collections import ConfigDict\n"
        "def get_config(arg=None):\n    return ConfigDict({'arg': arg or ''})\n"
    )
    assert load_config_file(f"{path}:small").arg == "small"
    with pytest.raises(UserError, match="does not exist"):
        load_config_file(str(tmp_path / "missing.py"))
