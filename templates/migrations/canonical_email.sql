-- Email addresses are stored in one canonical form: trimmed, Unicode NFKC-normalized and
-- lower-cased (the application computes it, see `email.rs`). Lookups, the unique index and the rate
-- limiter all compare that form, so one address is one account and one rate-limit bucket.
-- Rows written before are brought to that form as far as SQL can.
{%- if db == "sqlite" %}
-- (SQLite's `lower` folds ASCII letters only; the `COLLATE NOCASE` unique index stays.)

UPDATE users SET email = lower(trim(email))
WHERE email <> lower(trim(email))
  AND NOT EXISTS (
    SELECT 1 FROM users AS other WHERE other.id <> users.id AND other.email = lower(trim(users.email))
  );
{%- elif db == "postgres" %}
-- A row whose canonical form another row already has is left as it was rather than failing the
-- migration.

UPDATE users SET email = canonical.email
FROM (
    SELECT DISTINCT ON (lower(normalize(btrim(email), NFKC)))
        id, lower(normalize(btrim(email), NFKC)) AS email
    FROM users
    ORDER BY lower(normalize(btrim(email), NFKC)), created_at
) AS canonical
WHERE users.id = canonical.id
  AND users.email <> canonical.email
  AND NOT EXISTS (
    SELECT 1 FROM users AS other WHERE other.id <> users.id AND lower(other.email) = canonical.email
  );
{%- else %}
-- MySQL has no NFKC normalization in SQL: rows are trimmed and lower-cased. Then addresses are
-- told apart byte for byte rather than by `utf8mb4_unicode_ci`, which ignores accents (`alice@` and
-- `alíce@` were one account but two rate-limit buckets): the unique key moves to a stored binary
-- copy of the column, which look-ups use too. (The column itself keeps its collation: sqlx reads a
-- column with a binary collation as bytes, not text.) Rows that were distinct under the old
-- collation are distinct byte for byte, so the new key holds.

UPDATE users SET email = LOWER(TRIM(email));

ALTER TABLE users
    DROP INDEX users_email,
    ADD COLUMN email_key VARBINARY(1016) AS (CAST(email AS BINARY)) STORED,
    ADD UNIQUE KEY users_email_key (email_key);
{%- endif %}
