"""`tts serve`: test-time scaling behind an OpenAI-compatible HTTP API.

``protocol`` turns a request body into a ``Job`` (or an ``ApiError``), ``names`` reads the
model-name form (``majority-8@qwen2.5-coder-1.5b``), ``responses`` builds OpenAI's response and
chunk objects from a ``Solution``, ``gate`` bounds the requests in flight, and ``app`` is the
Starlette application that ties them to a ``Service`` (the loaded models; built by the command in
``cli/serve_cmd.py``). Starlette, uvicorn and sse-starlette come with the ``serve`` extra.
"""
