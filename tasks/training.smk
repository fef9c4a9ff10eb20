# The training rules of every task, written once. A task's runs train one per job (the rule
# `<task>_train`, wildcard = the run id), or K per job when its scale sets `pack: K`: runs that
# share a key (a noise setting, a model shape) form packs of at most K, and each pack is one rule
# `<task>_train_<pack>` whose outputs are its members' run JSONs (`python -m saidl.common.pack`
# trains them one after another in one process, each exactly as it trains alone). Editing one
# run's config reruns only its pack.
import json as _json

from saidl.common.workflow import logged as _logged, packs as _packs, wildcard_choice as _choice


def train_rules(name, wildcard, runs, runs_dir, log_dir, module, threads, gpu, pack=1, pack_key=None,
                pack_mode="serial", ckpt_dir=None, inputs=None, args="", env=""):
    """Define the training rules of one task.

    runs: run id -> config; runs_dir/log_dir: where run JSONs and logs go; module: the task's
    training module (its `main` takes --config-json, --out, --threads and, with ckpt_dir, --ckpt);
    gpu: the GPUs a job takes, an int or a function of a run config; inputs: name -> a path list
    or a function of a run config (a pack takes the union); args: further shell arguments (may
    name {input.x}); env: a shell prefix (thread variables); pack_mode: serial (members one after
    another, each exactly as alone) or vmap (one batched model, saidl.<task>.packed), or a function
    of a pack's member configs that returns one of them."""
    inputs = inputs or {}
    packed = _packs(runs, pack, pack_key or (lambda cfg: "all"))
    alone = [r for r in runs if not any(r in m for m in packed.values())]

    def gpus(ids):
        return max((gpu(runs[r]) if callable(gpu) else gpu) for r in ids)

    def input_fn(ids):
        def files(wildcards=None):
            out = {}
            for key, value in inputs.items():
                got = [p for r in ids for p in (value(runs[r]) if callable(value) else value)]
                out[key] = list(dict.fromkeys(got))
            return out
        return files

    def member(rid):
        return {"config": runs[rid], "out": f"{runs_dir}/{rid}.json",
                "ckpt": f"{ckpt_dir}/{rid}.pt" if ckpt_dir else None}

    ckpt_arg = " --ckpt {params.ckpt}" if ckpt_dir else ""

    def mode_args(pack_name, ids):
        mode = pack_mode([runs[r] for r in ids]) if callable(pack_mode) else pack_mode
        if mode == "serial":
            return ""
        return " --mode vmap" + (f" --pack-ckpt {ckpt_dir}/pack-{pack_name}.pt" if ckpt_dir else "")
    rule:
        name: name
        input:
            unpack(lambda w: input_fn([w[wildcard]])(w)),
        output:
            f"{runs_dir}/{{{wildcard}}}.json",
        wildcard_constraints:
            **{wildcard: _choice(alone)},
        params:
            cfg=lambda w: _json.dumps(runs[w[wildcard]], sort_keys=True),
            ckpt=lambda w: f"{ckpt_dir}/{w[wildcard]}.pt" if ckpt_dir else "",
        threads: threads
        resources:
            gpu=lambda w: gpus([w[wildcard]]),
        log:
            f"{log_dir}/{{{wildcard}}}.log",
        conda:
            SAIDL_ENV
        shell:
            _logged(env, f"python -m {module} --config-json {{params.cfg:q}} --out {{output}} "
                         f"--threads {{threads}}{ckpt_arg} {args}")

    # What a profile's `set-resources` gives the one-run rule `name` (e.g. profiles/slurm: runtime,
    # mem_mb, partition) its packs get too, with the runtime times the pack's size: a pack rule's
    # name is generated, so a profile cannot name each one.
    one_run = dict(getattr(workflow.resource_settings, "overwrite_resources", {}).get(name, {}) or {})

    def pack_resources(ids):
        res = {k: getattr(v, "value", v) for k, v in one_run.items() if k not in ("gpu", "_cores", "_nodes")}
        res = {k: v for k, v in res.items() if isinstance(v, (str, int, float))}  # not evaluable expressions
        if isinstance(res.get("runtime"), (int, float)):
            res["runtime"] = res["runtime"] * len(ids)
        return res

    for _pack, _ids in packed.items():
        rule:
            name: f"{name}_{_pack}"
            input:
                unpack(input_fn(_ids)),
            output:
                [f"{runs_dir}/{r}.json" for r in _ids],
            params:
                members=_json.dumps([member(r) for r in _ids], sort_keys=True),
                # a param, not part of the shell string: Snakemake evaluates `shell:` when the job
                # runs, when the loop variables name the last pack (params are evaluated here)
                mode=mode_args(_pack, _ids),
            threads: threads
            resources:
                gpu=gpus(_ids),
                **pack_resources(_ids),
            log:
                f"{log_dir}/pack-{_pack}.log",
            conda:
                SAIDL_ENV
            shell:
                _logged(env, f"python -m saidl.common.pack {module} --members {{params.members:q}} "
                             f"--threads {{threads}}{{params.mode}} {args}")
