# Load one embedding set in its format, check it, join its catalogue on id (everything counted), split.


rule analysis_prepare:
    input:
        unpack(analysis_set_inputs),
    output:
        embeddings=f"{ANA_RES}/{{aset}}/embeddings.npy",
        objects=f"{ANA_RES}/{{aset}}/objects.parquet",
        counts=f"{ANA_RES}/{{aset}}/counts.json",
        rejects=f"{ANA_RES}/{{aset}}/rejects.parquet",
    log:
        f"{ANA_LOGS}/prepare/{{aset}}.log",
    benchmark:
        f"{ANA_RES}/benchmarks/prepare/{{aset}}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=ANA["mem_mb"],
        runtime=30,
    params:
        entry=lambda wc: ANA_SETS[wc.aset],
        catalogue=lambda wc: ANA_PLAN.catalogues[ANA_SETS[wc.aset]["catalogue"]],
        test_fraction=ANA["probes"]["test_fraction"],
        seed=config["seed"],
    script:
        "../../scripts/analysis_prepare.py"
