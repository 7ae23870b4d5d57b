"""The operator console at ``/console``: pages, sessions, charts (routes in service/routes/console).

``web`` (templates, security headers, session and CSRF gates), ``sessions`` (signed cookies),
``i18n`` + ``messages_zh`` (English and Chinese), ``views`` (what each page shows),
``queries`` (read-only records SQL), ``charts``, ``highlight``, ``metrics_view``.
"""
