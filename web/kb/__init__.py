"""The knowledge base (知识库) over HTTP: public search, departments' own entries."""
