"""Model files without Django or llama.cpp: GGUF metadata (gguf's reader) and the content-addressed store.

Both the web side (register_base_model, imatrix uploads) and the workers use these.
"""
