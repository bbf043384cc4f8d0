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
        # every key of the set's and the catalogue's items is read by the loader/join, except the file names
        entry=analysis_entry,
        catalogue=analysis_catalogue,
        test_fraction=lookup(dpath="analysis/probes/test_fraction", within=config),
        seed=lookup(dpath="seed", within=config),
    script:
        "../../scripts/analysis_prepare.py"
