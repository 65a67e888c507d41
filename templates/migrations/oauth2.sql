-- OAuth2: accounts at providers linked to users, and the logins in progress.
{%- if db == "sqlite" %}

-- One row per account at a provider. Tokens are kept whole (TEXT), as the provider issued them.
CREATE TABLE oauth_accounts (
    provider TEXT NOT NULL,
    account_id TEXT NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    access_token TEXT NOT NULL,
    refresh_token TEXT,
    expires_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (provider, account_id)
);

CREATE INDEX oauth_accounts_user ON oauth_accounts (user_id);

-- A login started in a browser: keyed by the hash of the random value in its cookie, single use.
CREATE TABLE oauth_states (
    binding_hash TEXT PRIMARY KEY NOT NULL,
    provider TEXT NOT NULL,
    state_hash TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE INDEX oauth_states_expires ON oauth_states (expires_at);
{%- elif db == "postgres" %}

-- One row per account at a provider. Tokens are kept whole (TEXT), as the provider issued them.
CREATE TABLE oauth_accounts (
    provider TEXT NOT NULL,
    account_id TEXT NOT NULL,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    access_token TEXT NOT NULL,
    refresh_token TEXT,
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, account_id)
);

CREATE INDEX oauth_accounts_user ON oauth_accounts (user_id);

-- A login started in a browser: keyed by the hash of the random value in its cookie, single use.
CREATE TABLE oauth_states (
    binding_hash TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    state_hash TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX oauth_states_expires ON oauth_states (expires_at);
{%- else %}

-- One row per account at a provider. Tokens are kept whole (TEXT), as the provider issued them.
CREATE TABLE oauth_accounts (
    provider VARCHAR(64) CHARACTER SET ascii NOT NULL,
    -- Compared exactly (a binary collation); sqlx would read it back as bytes, and nothing does.
    account_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    user_id BINARY(16) NOT NULL,
    -- MEDIUMTEXT: TEXT stops at 64 KiB.
    access_token MEDIUMTEXT NOT NULL,
    refresh_token MEDIUMTEXT NULL,
    expires_at DATETIME NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    PRIMARY KEY (provider, account_id),
    KEY oauth_accounts_user (user_id),
    CONSTRAINT oauth_accounts_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- A login started in a browser: keyed by the hash of the random value in its cookie, single use.
-- Only the key has a binary (case-sensitive) collation: sqlx reads binary-collated columns as bytes.
CREATE TABLE oauth_states (
    binding_hash VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    provider VARCHAR(64) CHARACTER SET ascii NOT NULL,
    state_hash VARCHAR(64) CHARACTER SET ascii NOT NULL,
    pkce_verifier VARCHAR(128) CHARACTER SET ascii NOT NULL,
    expires_at DATETIME NOT NULL,
    created_at DATETIME NOT NULL,
    KEY oauth_states_expires (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
{%- endif %}
