"""Assistant: hybrid retrieval, cited answers, verification after generation, typed refusals."""
