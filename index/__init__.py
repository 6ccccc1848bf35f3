"""The transcript index: ingest, chunking, embedding, store and search."""
