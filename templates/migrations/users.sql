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
{%- elif db == "postgres" %}

CREATE TABLE users (
    id UUID PRIMARY KEY,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    is_verified BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- `Alice@x.io` and `alice@x.io` are one address: the database itself refuses the second.
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

-- Only hashes of tokens are stored; `purpose` keeps a token of one kind from being used as another.
CREATE TABLE user_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX user_tokens_user_purpose ON user_tokens (user_id, purpose);
{%- else %}

CREATE TABLE users (
    id BINARY(16) NOT NULL PRIMARY KEY,
    -- A case-insensitive collation: `Alice@x.io` and `alice@x.io` are one address, and the unique
    -- key refuses the second.
    email VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    is_verified BOOLEAN NOT NULL DEFAULT FALSE,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    UNIQUE KEY users_email (email)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Only hashes of tokens are stored; `purpose` keeps a token of one kind from being used as another.
CREATE TABLE user_tokens (
    token_hash VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    user_id BINARY(16) NOT NULL,
    purpose VARCHAR(16) NOT NULL,
    expires_at DATETIME NOT NULL,
    created_at DATETIME NOT NULL,
    KEY user_tokens_user_purpose (user_id, purpose),
    CONSTRAINT user_tokens_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
{%- endif %}
