"""Developer tools shipped with polyrpc (``python -m polyrpc.tools.protoc``)."""
