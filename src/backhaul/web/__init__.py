"""Server-rendered pages: plain forms, one module per audience."""
