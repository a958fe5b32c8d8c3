"""toolgym.benchmarks: benchmark suites, the sweep runner, results, reports and the ``toolgym`` CLI."""
