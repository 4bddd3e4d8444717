"""Ingest: regulatory documents become traceable chunks in a dense and a lexical index."""
