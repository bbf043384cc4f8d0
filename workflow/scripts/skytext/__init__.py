"""skytext: link astronomical observations with natural language.

The modules here hold the logic of the workflow's rules; ``workflow/scripts/*.py`` are thin entry points
that read ``snakemake.input/output/params`` and call into this package.
"""

__version__ = "0.1.0"
