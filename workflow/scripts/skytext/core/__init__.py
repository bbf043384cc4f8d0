"""The engine's lowest layer: data contracts, config checking, retries, safe paths, sharding, the Snakemake
glue, GPU claiming, vocabulary files, the dataset split, caption tables and a log filter. Imports nothing else
from skytext."""
