-- Two-factor login (totp, 0.3.0): each user's authenticator secret and recovery codes.
--
-- `secret` is the TOTP secret encrypted with XChaCha20-Poly1305 under a key derived from
-- `USERS_SECRET` (base64 of nonce and ciphertext): a copy of the database alone gives nobody the
-- codes. `enabled` is false while an enrolment waits for its first code. `last_step` is the 30 s
-- step of the last code accepted: a code is never accepted twice, nor one older than it.
-- Recovery codes are stored only as hashes and deleted when used.
{%- if db == "sqlite" %}

CREATE TABLE user_totp (
    user_id BLOB PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT FALSE,
    last_step BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE TABLE user_recovery_codes (
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);
{%- elif db == "postgres" %}

CREATE TABLE user_totp (
    user_id UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT FALSE,
    last_step BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE user_recovery_codes (
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);
{%- else %}

CREATE TABLE user_totp (
    user_id BINARY(16) NOT NULL PRIMARY KEY,
    secret VARCHAR(255) CHARACTER SET ascii NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT FALSE,
    last_step BIGINT NOT NULL DEFAULT 0,
    created_at DATETIME NOT NULL,
    CONSTRAINT user_totp_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE user_recovery_codes (
    user_id BINARY(16) NOT NULL,
    code_hash VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    PRIMARY KEY (user_id, code_hash),
    CONSTRAINT user_recovery_codes_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
{%- endif %}
