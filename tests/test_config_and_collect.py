import json
import subprocess
import sys

import pytest

from saidl.common.config import validate
from saidl.common.errors import ConfigError, RunSchemaError
from saidl.coreml.analyze import load_run
from saidl.coreml.grid import run_configs

from conftest import HANG_TIMEOUT, REPO

SCHEMA = REPO / "tasks/coreml/schema.yaml"


def with_demo(coreml_cfg, **changes):
    cfg = json.loads(json.dumps(coreml_cfg))
    cfg["scales"]["demo"].update(changes)
    return {"coreml": cfg}


def test_shipped_config_is_valid(coreml_cfg):
    validate({"coreml": coreml_cfg}, SCHEMA, "tasks/coreml/config.yaml")


def test_unknown_loss_name_is_one_clear_line(coreml_cfg):
    with pytest.raises(ConfigError) as err:
        validate(with_demo(coreml_cfg, losses=["CE", "XE"]), SCHEMA, "tasks/coreml/config.yaml")
    msg = str(err.value)
    assert "coreml.scales.demo.losses[1]" in msg and "'XE'" in msg and "\n" not in msg


def test_eta_outside_unit_interval_is_one_clear_line(coreml_cfg):
    with pytest.raises(ConfigError, match=r"coreml.scales.demo.sym\[0\].*1.5"):
        validate(with_demo(coreml_cfg, sym=[1.5]), SCHEMA, "tasks/coreml/config.yaml")


def test_snakemake_refuses_a_bad_config_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("coreml:\n  scales:\n    demo:\n      sym: [-0.2]\n")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "report", "--cores", "1",
                           "--configfile", str(bad)], cwd=REPO, capture_output=True, text=True, timeout=HANG_TIMEOUT)
    assert proc.returncode != 0
    assert "config error: invalid config at 'coreml.scales.demo.sym[0]'" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


def test_grid_ids_are_unique_and_carry_their_config(coreml_cfg):
    runs = run_configs(coreml_cfg, "demo")
    demo = coreml_cfg["scales"]["demo"]
    n = (len(demo["sym"]) + len(demo["asym"])) * len(demo["losses"]) * len(demo["seeds"])
    assert len(runs) == n
    r = runs["sym-0.8-NFL-s1"]
    assert (r["noise"], r["eta"], r["loss"], r["seed"]) == ("sym", 0.8, "NFL", 1)
    assert r["loss_params"]["scale"] == 10.0  # NFL's symmetric scale from the official config
    assert runs["asym-0.4-NFL-s1"]["loss_params"]["scale"] == 1.0


def test_missing_run_json_names_its_file(tmp_path):
    with pytest.raises(RunSchemaError, match=str(tmp_path / "x.json")):
        load_run(tmp_path / "x.json", {})


def test_malformed_run_json_names_its_file_and_the_problem(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"id": "bad", "task": "coreml"}))
    with pytest.raises(RunSchemaError, match=r"bad.json is malformed \('config' is a required property\)"):
        load_run(bad, {})
    bad.write_text("{not json")
    with pytest.raises(RunSchemaError, match="bad.json is malformed"):
        load_run(bad, {})


BUDGET_KEYS = {"n_train", "n_val", "n_test", "epochs", "seeds", "sym", "asym", "losses", "threads",
               "data_dir", "verify_checksums", "numpy", "timing_lengths", "timing_repeat", "timing_batch"}


@pytest.mark.parametrize("task", ["coreml", "ssm"])
def test_rehearsal_changes_only_budgets_and_the_fakes_location(task):
    """The rehearsal block is full with budgets (sizes, epochs, seeds, grid, timings) shrunk and
    the data pointed at the fake; the schema accepts the resolved block; at full the md5 check is on."""
    import yaml

    from saidl.common.config import scale_block, with_rehearsal

    cfg = yaml.safe_load((REPO / f"tasks/{task}/config.yaml").read_text())[task]
    assert set(cfg["rehearsal"]) <= BUDGET_KEYS
    assert cfg["rehearsal"]["data_dir"].startswith("data/rehearsal/")
    assert cfg["scales"]["full"]["verify_checksums"] is True and cfg["rehearsal"]["verify_checksums"] is False
    validate({task: with_rehearsal(cfg, task)}, REPO / f"tasks/{task}/schema.yaml", f"tasks/{task}/config.yaml")
    block = scale_block(cfg, task, "rehearsal")
    assert len(block["seeds"]) >= 1 and block["epochs"] < cfg["scales"]["full"]["epochs"]
