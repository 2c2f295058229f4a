"""The OpenAPI 3.1 document of the HTTP API (接口文档), served at ``/api/openapi.json``."""
