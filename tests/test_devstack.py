"""`make run`'s configuration: the shipped files as they are on disk, plus the demo's self-service policy."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from adapters.config_files import CONFIG_DIR, load_policy
from devstack import demo
from devstack.__main__ import demo_config
from domain.enums import Segment


def test_the_stack_runs_on_the_shipped_files_plus_a_self_service_demo_made_from_demo_yaml(tmp_path: Path):
    shipped = Path(shutil.copytree(CONFIG_DIR, tmp_path / "mine"))
    folder = demo_config(tmp_path / "data", shipped)
    made = load_policy(demo.SELF_SERVICE, folder)
    first = made.segments[Segment.LOW_RISK].schedule[0]
    assert (first.channel.value, first.link) == ("email", True)
    assert made.promise == load_policy("demo", folder).promise  # the rest is the demo's
    (shipped / "policies" / "standard.yaml").write_text(
        (shipped / "policies" / "standard.yaml").read_text(encoding="utf-8").replace(
            "max_days_ahead: 30", "max_days_ahead: 21"), encoding="utf-8")
    assert load_policy("standard", folder).promise.max_days_ahead == 21  # an edit reaches the stack


def test_a_policy_of_its_own_is_kept_and_no_demo_yaml_makes_none(tmp_path: Path):
    shipped = Path(shutil.copytree(CONFIG_DIR, tmp_path / "mine"))
    own = shipped / "policies" / f"{demo.SELF_SERVICE}.yaml"
    own.write_text(yaml.safe_dump(yaml.safe_load((shipped / "policies" / "demo.yaml").read_text(encoding="utf-8"))
                                  | {"name": demo.SELF_SERVICE, "description": "mine"}), encoding="utf-8")
    folder = demo_config(tmp_path / "data", shipped)
    assert load_policy(demo.SELF_SERVICE, folder).description == "mine"
    assert own.read_text(encoding="utf-8").count("mine") == 1  # untouched, not written through its link
    (shipped / "policies" / "demo.yaml").unlink()
    own.unlink()
    folder = demo_config(tmp_path / "data", shipped)
    assert not (folder / "policies" / f"{demo.SELF_SERVICE}.yaml").exists()


def test_a_config_dir_inside_the_data_folder_is_used_as_it_is(tmp_path: Path):
    data = tmp_path / "data"
    inside = Path(shutil.copytree(CONFIG_DIR, data / "config"))
    assert demo_config(data, inside) == inside.resolve() and (inside / "policies" / "standard.yaml").is_file()
