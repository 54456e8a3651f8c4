"""`tts bench`: accuracy against compute for strategies x values of N x models.

    cache.py      per-problem results as flushed JSONL lines, keyed by what changes them (resume)
    pool.py       sample pools: one batch of max(N) samples per (problem, model, seed); each N is
                  read from the first N samples (selection and cost of the subset)
    runner.py     the plan (which runs and pools are needed), running what the cache lacks, and the
                  per-problem outcomes
    rows.py       rows per (model, strategy, N): accuracy with a Wilson interval, mean costs, Pareto
    report.py     the table (Rich or TSV), the JSON summary and the plot
"""
