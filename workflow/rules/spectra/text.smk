# Texts: paper summaries (the text itself offline, or the shared LLM layer; sharded), then sentence or
# OpenAI embeddings of every summary, pooled per source (embed/text.npy).


rule spectra_summarise:
    input:
        papers=f"{SPEC_RES}/dataset/papers.parquet",
        prompt=f"resources/prompts/{SPEC['summaries']['prompt']}",
    output:
        texts=f"{SPEC_RES}/summaries/shards/{{sum_shard}}/texts.parquet",
        rejects=f"{SPEC_RES}/summaries/shards/{{sum_shard}}/rejects.parquet",
        run=f"{SPEC_RES}/summaries/shards/{{sum_shard}}/run.json",
    log:
        f"{SPEC_LOGS}/spectra_summarise/{{sum_shard}}.log",
    benchmark:
        f"{SPEC_RES}/benchmarks/spectra_summarise/{{sum_shard}}.tsv"
    wildcard_constraints:
        sum_shard=r"\d+",
    conda:
        "../../envs/llm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=240,
        llm_jobs=1,
    params:
        backend=lookup(dpath="spectra/summaries/backend", within=config),
        # the shared LLM layer reads the whole llm section (backend, model, batching, retries, prices)
        llm=config["llm"] if SPEC["summaries"]["backend"] == "llm" else {},
        shards=len(SUM_SHARDS),
    script:
        "../../scripts/spectra_summarise.py"


rule spectra_embed_text:
    input:
        texts=expand(
            f"{SPEC_RES}/summaries/shards/{{sum_shard}}/texts.parquet",
            sum_shard=SUM_SHARDS,
        ),
        rejects=expand(
            f"{SPEC_RES}/summaries/shards/{{sum_shard}}/rejects.parquet",
            sum_shard=SUM_SHARDS,
        ),
        sources=f"{SPEC_RES}/dataset/sources.parquet",
        links=f"{SPEC_RES}/dataset/links.parquet",
    output:
        papers=f"{SPEC_RES}/embed/papers.npy",
        paper_ids=f"{SPEC_RES}/embed/papers.parquet",
        text=f"{SPEC_RES}/embed/text.npy",
        text_ids=f"{SPEC_RES}/embed/text.parquet",
        text_whole=f"{SPEC_RES}/embed/text_whole.npy",
        rejects=f"{SPEC_RES}/embed/text_rejects.parquet",
    log:
        f"{SPEC_LOGS}/spectra_embed_text/all.log",
    benchmark:
        f"{SPEC_RES}/benchmarks/spectra_embed_text/all.tsv"
    conda:
        "../../envs/spectra.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        text_encoder=text_encoder_leaves(),
        retry=(
            leaves("llm", "timeout_s", "max_retries", "backoff_s", "backoff_max_s")
            if SPEC["text_encoder"]["backend"] == "openai"
            else {}
        ),
    script:
        "../../scripts/spectra_embed_text.py"
