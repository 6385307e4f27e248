"""Worker options for the CLI tests (kept apart so job processes need not import the worker)."""

from __future__ import annotations

from wk_entrypoints import prewarm, scripted, zero_load
from wk_sessions import converse

from flowagents.worker import WorkerOptions

cli_opts = WorkerOptions(entrypoint_fnc=scripted, prewarm_fnc=prewarm, load_fnc=zero_load,
                         num_idle_processes=1, update_status_interval=0.2,
                         shutdown_process_timeout=5.0)

# gives up after two quick attempts (for the exit-after-giving-up test)
quick_give_up = cli_opts.model_copy(update={"max_retry": 2, "retry_base_delay": 0.05,
                                            "retry_max_delay": 0.2, "connect_timeout": 1.0})

# scripted conversations in a pre-warmed pool (for `start --record`)
sessions_opts = WorkerOptions(entrypoint_fnc=converse, load_fnc=zero_load, num_idle_processes=1,
                              update_status_interval=0.2, shutdown_process_timeout=5.0)
