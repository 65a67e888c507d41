-- Email changes waiting for the link mailed to the new address (current-user, 0.2.0). One per
-- user: a newer change replaces the older one, whose link then stops working. The link's token is
-- stored only as a hash, bound to the address it was mailed to.
{%- if db == "sqlite" %}

CREATE TABLE email_changes (
    user_id BLOB PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);
{%- elif db == "postgres" %}

CREATE TABLE email_changes (
    user_id UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
{%- else %}

CREATE TABLE email_changes (
    user_id BINARY(16) NOT NULL PRIMARY KEY,
    email VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
    token_hash VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    expires_at DATETIME NOT NULL,
    created_at DATETIME NOT NULL,
    UNIQUE KEY email_changes_token (token_hash),
    CONSTRAINT email_changes_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
{%- endif %}
