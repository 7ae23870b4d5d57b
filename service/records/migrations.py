"""Versioned schema migrations, the same for SQLite and PostgreSQL; applied at start.

``{id}`` expands to the dialect's auto-increment primary key. Times are stored as fixed-width
ISO 8601 UTC text (``2026-11-24T18:50:06.320729Z``) in both backends, so ordering and day
grouping (``substr(time, 1, 10)``) are the same SQL everywhere. Never edit a released step:
add a new one.
"""

from __future__ import annotations

RECORD_KINDS = (
    "network_log",
    "incident",
    "label_delivery",
    "sanction",
    "complaint",
    "admin_action",
)
# The chains created by step 1 (a released step never changes: later kinds get their own step).
_V1_KINDS = RECORD_KINDS[:5]

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "records, chain heads, sanctions, complaints, deletion requests",
        [
            """CREATE TABLE records (
                seq {id},
                rid TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL,
                time TEXT NOT NULL,
                tenant_id TEXT NOT NULL,
                user_id TEXT,
                request_id TEXT,
                action TEXT,
                categories TEXT,
                body TEXT NOT NULL,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL,
                restricted INTEGER NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX records_kind_seq ON records (kind, seq)",
            "CREATE INDEX records_kind_time ON records (kind, time)",
            "CREATE INDEX records_user ON records (tenant_id, user_id)",
            """CREATE TABLE chain_heads (
                kind TEXT PRIMARY KEY,
                head_hash TEXT NOT NULL,
                anchor_hash TEXT NOT NULL,
                purged INTEGER NOT NULL DEFAULT 0
            )""",
            *(
                "INSERT INTO chain_heads (kind, head_hash, anchor_hash) VALUES "
                f"('{kind}', '{'0' * 64}', '{'0' * 64}')"
                for kind in _V1_KINDS
            ),
            """CREATE TABLE user_sanctions (
                tenant_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                level TEXT NOT NULL,
                consecutive INTEGER NOT NULL,
                day TEXT NOT NULL,
                day_count INTEGER NOT NULL,
                total INTEGER NOT NULL,
                suspended_until TEXT,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (tenant_id, user_id)
            )""",
            """CREATE TABLE complaints (
                id TEXT PRIMARY KEY,
                created_at TEXT NOT NULL,
                deadline TEXT NOT NULL,
                tenant_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                category TEXT,
                request_id TEXT,
                content_id TEXT,
                user_id TEXT,
                description TEXT NOT NULL,
                contact TEXT,
                status TEXT NOT NULL,
                assignee TEXT,
                outcome TEXT,
                upheld INTEGER,
                allow_phrase TEXT,
                resolved_at TEXT,
                updated_at TEXT NOT NULL
            )""",
            "CREATE INDEX complaints_status ON complaints (status, deadline)",
            """CREATE TABLE deletion_requests (
                id {id},
                tenant_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                requested_at TEXT NOT NULL,
                records INTEGER NOT NULL
            )""",
        ],
    ),
    (
        2,
        "chain of operator actions (admin API and console)",
        [
            "INSERT INTO chain_heads (kind, head_hash, anchor_hash) VALUES "
            f"('admin_action', '{'0' * 64}', '{'0' * 64}')",
        ],
    ),
    (
        3,
        "rate-limit windows shared by workers and replicas",
        [
            """CREATE TABLE rate_windows (
                bucket TEXT NOT NULL,
                key TEXT NOT NULL,
                win BIGINT NOT NULL,
                hits INTEGER NOT NULL,
                PRIMARY KEY (bucket, key, win)
            )""",
        ],
    ),
]

DIALECT_TOKENS = {
    "sqlite": {"id": "INTEGER PRIMARY KEY AUTOINCREMENT"},
    "postgresql": {"id": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"},
}


def statements(dialect: str, after: int) -> list[tuple[int, str, list[str]]]:
    """Migration steps newer than version ``after``, rendered for ``dialect``."""
    tokens = DIALECT_TOKENS[dialect]
    return [
        (version, title, [sql.replace("{id}", tokens["id"]) for sql in sqls])
        for version, title, sqls in MIGRATIONS
        if version > after
    ]
