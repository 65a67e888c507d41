-- Users and their tokens (sessions, access-token ids, verification and reset links).
{%- if db == "sqlite" %}

CREATE TABLE users (
    id BLOB PRIMARY KEY NOT NULL,
    -- NOCASE: `Alice@x.io` and `alice@x.io` are one address, enforced by the unique index.
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    is_verified BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Only hashes of tokens are stored; `purpose` keeps a token of one kind from being used as another.
CREATE TABLE user_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE INDEX user_tokens_user_purpose ON user_tokens (user_id, purpose);
{%- endif %}
