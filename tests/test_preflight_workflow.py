"""A full run checks its datasets and weights before any job starts (and before a GPU hour is
spent): `snakemake --config scale=full` with assets missing stops at parse time with the list of
what is missing, where it was looked for and how to get it."""

from __future__ import annotations

import os



def test_full_run_with_missing_assets_stops_before_any_job_with_the_list(workflow_copy, tmp_path):
    env = {**os.environ, "HF_HOME": str(tmp_path / "empty-hf"), "HF_HUB_OFFLINE": "1"}
    proc = snakemake_env(workflow_copy, env, "-n", "report", "--cores", "1", "--config", "scale=full")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert "asset check failed:" in out and "Assets of the full scale:" in out
    # the multimodal CLIP encoder is read from the local cache only: missing is always blocking
    assert "[MISSING] CLIP ViT-B/32 (weights; multimodal)" in out
    assert "fix:   hf download openai/clip-vit-base-patch32" in out
    assert "SAIDL_SKIP_ASSETS=1 skips this check" in out
    assert "Job stats" not in out and not (workflow_copy / "results").exists()


def test_the_check_can_be_skipped_and_other_scales_do_not_run_it(workflow_copy, tmp_path):
    env = {**os.environ, "HF_HOME": str(tmp_path / "empty-hf"), "SAIDL_SKIP_ASSETS": "1"}
    proc = snakemake_env(workflow_copy, env, "-n", "report", "--cores", "1", "--config", "scale=full")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "asset check failed" not in proc.stdout + proc.stderr
    env.pop("SAIDL_SKIP_ASSETS")
    proc = snakemake_env(workflow_copy, env, "-n", "report", "--cores", "1", "--config", "scale=smoke")
    assert proc.returncode == 0 and "Assets of the" not in proc.stdout + proc.stderr


def snakemake_env(cwd, env, *args):
    import subprocess
    import sys

    from conftest import HANG_TIMEOUT

    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=HANG_TIMEOUT)
