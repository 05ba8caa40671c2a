"""The only place that talks to llama_cpp (llama-cpp-python). Everything else in the engine calls these."""
