"""Model files without Django or llama.cpp: GGUF metadata (a bounded header reader, and gguf's reader for
trusted files), the limited child-process check of uploads, and the content-addressed store.

Both the web side (register_base_model, imatrix uploads) and the workers use these.
"""
