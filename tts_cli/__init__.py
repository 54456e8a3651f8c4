"""tts: test-time scaling for small local models on llama.cpp."""

__version__ = "0.1.0"
