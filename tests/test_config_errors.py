"""A careless user's config mistakes end in one clear line, never a traceback, a lost run or a stuck
folder: duplicate YAML keys and syntax errors name the file and line, two entries with one run id
are refused naming both, free strings with braces reach their jobs literally, and a stale
Snakemake lock names the command that removes it."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest
import yaml

from saidl.common.config import RunGrid, check_config_file, load_yaml, validate, with_rehearsal
from saidl.common.errors import ConfigError
from saidl.common.workflow_lock import lock_exception_message, snakemake_pids, unlock_command

from conftest import HANG_TIMEOUT, REPO

TASKS = ("coreml", "ssm", "rl", "diffusion", "paper", "multimodal")
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def task_cfg(task):
    return with_rehearsal(yaml.safe_load((REPO / f"tasks/{task}/config.yaml").read_text())[task], task)


@pytest.fixture
def workflow(workflow_copy):
    return workflow_copy


def snakemake(cwd, *args, prog=SNAKEMAKE):
    return subprocess.run([*prog, *args], cwd=cwd, capture_output=True, text=True, timeout=HANG_TIMEOUT)


def one_clear_line(proc, start: str) -> str:
    """The line of the output that starts with ``start``; the run failed without a traceback."""
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "Traceback" not in out and 'File "' not in out, out[-3000:]
    lines = [line for line in out.splitlines() if line.startswith(start)]
    assert lines, out[-3000:]
    return lines[0]


# --- item 3: a duplicate YAML key; item 4: a YAML syntax error ------------------------------------

def test_duplicate_key_names_the_file_the_key_and_both_lines(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("coreml:\n  scales:\n    demo:\n      epochs: 5\n      lr: 0.1\n      epochs: 50\n")
    with pytest.raises(ConfigError) as err:
        check_config_file(f)
    msg = str(err.value)
    assert msg.startswith(f"{f}:6: key 'epochs' is given twice") and "lines 4 and 6" in msg and "\n" not in msg


def test_merge_keys_and_equal_keys_in_different_mappings_are_fine(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("a: &base {x: 1, y: 2}\nb:\n  <<: *base\n  x: 3\nc: {x: 1}\n")
    assert check_config_file(f) == {"a": {"x": 1, "y": 2}, "b": {"x": 3, "y": 2}, "c": {"x": 1}}


def test_yaml_syntax_error_names_the_file_and_line(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("coreml:\n  scales:\n    demo:\n      sym: [0.2, 0.4\n      asym: [0.2]\n")
    with pytest.raises(ConfigError, match=rf"^{f}:5:\d+: invalid YAML: .*flow sequence at line 4"):
        check_config_file(f)
    f.write_text("coreml:\n  scales:\n\tdemo: {}\n")
    with pytest.raises(ConfigError, match=rf"^{f}:3:1: invalid YAML: .*'\\t'.*indent with spaces, not tabs"):
        check_config_file(f)


def test_json_that_yaml_refuses_still_loads_and_its_duplicates_are_refused(tmp_path):
    f = tmp_path / "c.json"
    f.write_text('{\n\t"scale": "smoke"\n}\n')  # tab-indented JSON: Snakemake reads it, so do we
    assert check_config_file(f) == {"scale": "smoke"}
    f.write_text('{\n\t"scale": "smoke",\n\t"scale": "demo"\n}\n')
    with pytest.raises(ConfigError, match="key 'scale' is given twice"):
        check_config_file(f)


def test_every_shipped_config_and_schema_reads_strictly():
    for path in [REPO / "config/config.yaml", REPO / "config/schema.yaml",
                 *(REPO / f"tasks/{t}/{n}.yaml" for t in TASKS for n in ("config", "schema"))]:
        load_yaml(path)


def test_snakemake_names_a_duplicate_key_in_a_shipped_config(workflow):
    cfg = workflow / "tasks/coreml/config.yaml"
    lines = cfg.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("SCE:"))
    lines.insert(at + 1, lines[at].replace("alpha: 0.1", "alpha: 0.2"))
    cfg.write_text("".join(lines))
    line = one_clear_line(snakemake(workflow, "-n", "--cores", "1"), "config error:")
    assert line == (f"config error: tasks/coreml/config.yaml:{at + 2}: key 'SCE' is given twice in one mapping "
                    f"(lines {at + 1} and {at + 2}); YAML would silently keep only the last value: delete or "
                    "rename one of them")


def test_snakemake_names_the_line_of_a_yaml_syntax_error_in_a_shipped_config(workflow):
    cfg = workflow / "tasks/rl/config.yaml"
    lines = cfg.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "{" in line and line.rstrip().endswith("}"))
    lines[at] = lines[at].rstrip()[:-1] + "\n"  # an unclosed flow mapping
    cfg.write_text("".join(lines))
    line = one_clear_line(snakemake(workflow, "-n", "--cores", "1"), "config error:")
    assert line.startswith("config error: tasks/rl/config.yaml:") and "invalid YAML" in line
    assert f"flow mapping at line {at + 1}" in line


def test_snakemake_names_a_duplicate_key_in_a_configfile(workflow, tmp_path):
    extra = tmp_path / "mine.yaml"
    extra.write_text("scale: smoke\ncoreml:\n  scales:\n    smoke:\n      epochs: 1\n      epochs: 2\n")
    line = one_clear_line(snakemake(workflow, "-n", "--cores", "1", "--configfile", str(extra)), "config error:")
    assert line.startswith(f"config error: {extra}:6: key 'epochs' is given twice") and "lines 5 and 6" in line


# --- item 2: two config entries, one run id ----------------------------------------------------

def collision(fn, *args) -> str:
    with pytest.raises(ConfigError) as err:
        fn(*args)
    msg = str(err.value)
    assert "both map to the run id" in msg and "\n" not in msg
    return msg


def test_coreml_etas_that_print_alike_are_refused_naming_both():
    from saidl.coreml.grid import run_configs
    cfg = task_cfg("coreml")
    cfg["scales"]["smoke"]["sym"] = [0.8, 0.8000001]
    msg = collision(run_configs, cfg, "smoke")
    assert "coreml.scales.smoke.sym[0] = 0.8 " in msg and "coreml.scales.smoke.sym[1] = 0.8000001 " in msg
    assert "'sym-0.8-" in msg


def test_paper_variant_names_that_differ_in_punctuation_are_refused_naming_both():
    from saidl.paper.grid import run_configs
    cfg, coreml = task_cfg("paper"), task_cfg("coreml")
    spec = cfg["variants"]["ANL-CE"]
    cfg["variants"]["ANL-CE, wd"] = {**spec, "weight_decay": 0.0}
    cfg["variants"]["ANL-CE wd"] = {**spec, "weight_decay": 1e-3}
    cfg["scales"]["smoke"]["ablation"]["variants"] = ["ANL-CE, wd", "ANL-CE wd"]
    msg = collision(run_configs, cfg, coreml, "smoke")
    assert "variant 'ANL-CE, wd'" in msg and "variant 'ANL-CE wd'" in msg and "'ablation-sym-0.8-ANL-CE_wd-s0'" in msg


def test_paper_sensitivity_weights_that_print_alike_are_refused():
    from saidl.paper.grid import run_configs
    cfg, coreml = task_cfg("paper"), task_cfg("coreml")
    cfg["scales"]["smoke"]["sensitivity"]["alpha"] = [1.0, 1.0000001]
    msg = collision(run_configs, cfg, coreml, "smoke")
    assert "alpha 1.0," in msg and "alpha 1.0000001," in msg


def test_paper_identical_runs_stay_one_run():
    """A rate listed plainly and again with its variants, and the sensitivity point at the paper's
    weights (find_same), give the same configs: one run each, no error."""
    from saidl.paper.grid import design, run_configs
    cfg, coreml = task_cfg("paper"), task_cfg("coreml")
    main = cfg["scales"]["smoke"]["main"]
    main["sym"] = [0.8, {"eta": 0.8, "variants": ["ANL-CE"]}]
    runs = run_configs(cfg, coreml, "smoke")
    assert len([r for r in runs if r.startswith("main-sym-0.8-ANL-CE-")]) == len(cfg["scales"]["smoke"]["seeds"])
    points = design(cfg, coreml, "smoke")["sensitivity"]["points"]
    assert any(rid.startswith("main-") for p in points for rid in p["runs"])


def test_multimodal_feature_set_names_that_slug_alike_are_refused_naming_both():
    from saidl.multimodal.grid import run_configs
    cfg = task_cfg("multimodal")
    cfg["feature_sets"]["all simple!"] = {"modalities": ["image"]}
    cfg["scales"]["smoke"]["feature_sets"] = ["all simple", "all simple!", "all pretrained"]
    msg = collision(run_configs, cfg, "smoke")
    assert "'all simple' (" in msg and "'all simple!' (" in msg


def test_run_grid_refuses_a_different_config_under_one_id_and_keeps_an_identical_one():
    runs = RunGrid("ssm")
    runs.add("a-s0", {"lr": 1}, "ssm.scales.demo.models 'a' (seed 0)")
    runs.add("a-s0", {"lr": 1}, "ssm.scales.demo.models 'a' (seed 0), again")
    assert dict(runs) == {"a-s0": {"lr": 1}}
    with pytest.raises(ConfigError, match=r"^ssm.scales.demo.models 'a' \(seed 0\) and elsewhere both map to the "
                                          r"run id 'a-s0'.*tasks/ssm/config.yaml"):
        runs.add("a-s0", {"lr": 2}, "elsewhere")


def test_snakemake_refuses_colliding_run_ids_in_one_line(workflow, tmp_path):
    extra = tmp_path / "mine.yaml"
    extra.write_text("scale: smoke\ncoreml:\n  scales:\n    smoke:\n      sym: [0.8, 0.8000001]\n")
    line = one_clear_line(snakemake(workflow, "-n", "--cores", "1", "--configfile", str(extra)), "config error:")
    assert "coreml.scales.smoke.sym[0] = 0.8 (loss" in line and "sym[1] = 0.8000001 (loss" in line


# --- item 5: free strings with braces -----------------------------------------------------------

ODD = "ANL {wild} $x^2$ 100%_#&~\\ 'q' \"dq\""


def test_free_strings_with_braces_reach_their_jobs_literally(workflow, tmp_path):
    """Every free string of the schemas that reaches a job (names, folders, hub ids) holds {wild}:
    the DAG builds, the run ids are file-name safe, and the job's --config-json carries the text."""
    extra = {
        "scale": "smoke",
        "coreml": {"scales": {"smoke": {"data_dir": "data/{wild}"}}},
        "ssm": {"scales": {"smoke": {"data_dir": "data/{wild}"}}},
        "rl": {"scales": {"smoke": {"env_id": "Hopper-v4{wild}"}}},
        "diffusion": {"scales": {"smoke": {"hub_cache": "hub/{wild}", "vae_id": "vae/{wild}"}}},
        "paper": {"variants": {ODD: {"loss": "ANL-CE", "params": {"alpha": 5.0, "beta": 5.0, "delta": 5.0e-5},
                                     "weight_decay": 0.0}},
                  "scales": {"smoke": {"ablation": {"variants": [ODD]}}}},
        "multimodal": {"feature_sets": {"img {wild} $y$": {"modalities": ["image"]}},
                       "scales": {"smoke": {"feature_sets": ["structure", "all simple", "all pretrained",
                                                             "img {wild} $y$"],
                                            "hub_cache": "hub/{wild}",
                                            "data": {"source": "synthetic", "cache_dir": "c/{wild}"}}}},
    }
    f = tmp_path / "odd.yaml"
    f.write_text(yaml.safe_dump(extra))
    proc = snakemake(workflow, "-n", "-p", "--cores", "1", "--configfile", str(f))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    paper_id = "ablation-sym-0.8-ANL_wild_x_2_100_q_dq-s0"
    assert f"results/smoke/paper/runs/{paper_id}.json" in out
    assert "results/smoke/multimodal/runs/features-img_wild_y-bases-s0.json" in out
    cmds = [shlex.split(line.split(" > ")[0]) for line in out.splitlines() if "--config-json" in line]
    cfgs = [json.loads(c[c.index("--config-json") + 1]) for c in cmds]
    assert any(c.get("variant") == ODD and c["run_id"] == paper_id for c in cfgs)
    assert any(c.get("feature_set") == "img {wild} $y$" for c in cfgs)
    assert any(c.get("env_id") == "Hopper-v4{wild}" for c in cfgs)
    assert any(c.get("data_dir") == "data/{wild}" and c.get("loss") for c in cfgs)
    assert any(c.get("cache_dir") == "c/{wild}" for c in cfgs)


@pytest.mark.parametrize("task, key", [("ssm", "models"), ("rl", "variants"), ("diffusion", "runs")])
def test_names_that_are_file_names_refuse_braces_in_one_line(task, key):
    cfg = task_cfg(task)
    cfg[key]["a {b}"] = next(iter(cfg[key].values()))
    with pytest.raises(ConfigError) as err:
        validate({task: cfg}, REPO / f"tasks/{task}/schema.yaml", f"tasks/{task}/config.yaml")
    msg = str(err.value)
    assert f"'{task}.{key}'" in msg and "'a {b}' does not match" in msg and "ASCII letters" in msg


def test_diffusion_run_named_like_an_autoencoder_is_refused():
    cfg = task_cfg("diffusion")
    cfg["runs"]["ae-conditional"] = next(iter(cfg["runs"].values()))
    with pytest.raises(ConfigError, match="ae-<group>"):
        validate({"diffusion": cfg}, REPO / "tasks/diffusion/schema.yaml", "tasks/diffusion/config.yaml")


def test_fakes_dir_with_braces_is_refused():
    with pytest.raises(ConfigError, match=r"'fakes_dir'.*no \{ or \}"):
        validate({"scale": "demo", "tasks": ["coreml"], "fakes_dir": "data/{x}"}, REPO / "config/schema.yaml",
                 "config/config.yaml")


# --- item 9: a lock left by kill -9 ------------------------------------------------------------

def leave_stale_lock(root, *outputs):
    """The lock files a killed Snakemake leaves (snakemake/persistence/file.py: _write_locks)."""
    locks = root / ".snakemake/locks"
    locks.mkdir(parents=True, exist_ok=True)
    (locks / "0.input.lock").write_text("tasks/coreml/config.yaml\n")
    (locks / "0.output.lock").write_text("".join(f"{o}\n" for o in outputs))


def test_stale_lock_names_the_one_command_that_recovers(workflow):
    target = "results/smoke/coreml/grid.json"
    leave_stale_lock(workflow, target)
    args = ["--cores", "1", target, "--config", "scale=smoke"]
    unlock = f"snakemake --unlock --cores 1 {target} --config scale=smoke"
    # a dry run only warns about a lock: the note comes first
    dry = snakemake(workflow, "-n", *args)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert (f"note: a lock left by an interrupted Snakemake run is in {workflow}/.snakemake/locks and no Snakemake "
            f"process is running in this folder; remove it with: {unlock}   then run your command again") \
        in dry.stderr
    # a real run stops: its failure message is the same line
    real = snakemake(workflow, *args)
    line = one_clear_line(real, "a lock left by")
    assert f"remove it with: {unlock}   then" in line
    assert not (workflow / target).exists()
    # the command recovers, and the run then goes through
    assert snakemake(workflow, *shlex.split(unlock)[1:]).returncode == 0
    again = snakemake(workflow, *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (workflow / target).exists()


def test_a_live_snakemake_is_named_instead_of_the_unlock_command(tmp_path):
    leave_stale_lock(tmp_path, "x")
    # a process that looks like Snakemake, working in that folder
    live = subprocess.Popen(["bash", "-c", "exec -a snakemake sleep 600"], cwd=tmp_path)
    try:
        for _ in range(100):
            if live.pid in snakemake_pids(tmp_path):
                break
            import time
            time.sleep(0.05)
        msg = lock_exception_message(tmp_path, ["snakemake", "--cores", "1"])
        assert f"locked by the Snakemake process {live.pid}, which is still running" in msg
        assert "--unlock" not in msg
    finally:
        live.kill()
        live.wait()


@pytest.mark.parametrize("argv, command", [
    (["snakemake", "-n", "report", "--config", "scale=full"], "snakemake --unlock report --config scale=full"),
    (["snakemake", "-np", "--cores", "4"], "snakemake --unlock -p --cores 4"),
    (["/x/__main__.py", "--dry-run", "--configfile", "my file.yaml"],
     "snakemake --unlock --configfile 'my file.yaml'"),
])
def test_unlock_command_is_the_users_command_with_unlock(argv, command, monkeypatch):
    monkeypatch.setenv("PATH", os.defpath)
    assert unlock_command(argv) == command
