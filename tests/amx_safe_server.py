"""``python tests/amx_safe_server.py ARGS``: llama-cpp-python's own server (``python -m
llama_cpp.server ARGS``), with llama.cpp's extra CPU buffer types off where tts turns them off.

On a CPU with AMX, llama.cpp's AMX matmul kernels crash (SIGSEGV, llama.cpp #20824) on the first
prompt of more than a few tokens; tts's engine avoids them (``tts_cli/engine/cpu.py``), but the
server has no setting for it, so the tests that talk to a real server start it through this file,
which applies tts's own decision to every model the server loads.
"""

from __future__ import annotations

import runpy

import llama_cpp.llama_cpp as low_level

from tts_cli.engine.cpu import cpu_flags, decide_cpu_repack, requested_mode


def main() -> None:
    system_info = low_level.llama_print_system_info().decode("utf-8", errors="replace")
    decision = decide_cpu_repack(requested_mode(None), system_info, cpu_flags())
    default_params = low_level.llama_model_default_params

    def model_params() -> low_level.llama_model_params:
        params = default_params()
        params.use_extra_bufts = decision.use_extra_bufts
        return params

    low_level.llama_model_default_params = model_params  # read by llama_cpp.Llama when it loads a model
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
