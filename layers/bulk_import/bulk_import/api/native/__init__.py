"""The native /v1 API's HTTP side, one module per concern:

- problems: RFC 9457 problem details, and which error answers which problem;
- auth: the bearer credential of a request;
- queries: the read routes' query parameters and the listings' cursors;
- views: the JSON shapes of the answers;
- cors: OPTIONS and the CORS headers of every answer;
- requests: the write routes' bodies, as pydantic models;
- writes: the write function's Powertools resolver and how it words a refused body.

The read function routes with bulk_import.api.rest and loads neither pydantic nor Powertools' event
handler (docs/decisions/0002-cold-start-budget.md): only requests and writes load them.
"""
