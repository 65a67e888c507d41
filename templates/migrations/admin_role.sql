-- The `admin` role that the generated guards of role-management and user-management check (0.2.0),
-- so that the first admin is `<bin> users create-user ... --role admin` on a fresh app. A role of
-- that name (in any letter case) that exists already is kept as it is.
{%- if db == "sqlite" %}

INSERT INTO roles (id, name, description, created_at)
SELECT randomblob(16), 'admin', 'Manages users and roles.', strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')
WHERE NOT EXISTS (SELECT 1 FROM roles WHERE name = 'admin');
{%- elif db == "postgres" %}

INSERT INTO roles (id, name, description, created_at)
SELECT gen_random_uuid(), 'admin', 'Manages users and roles.', now()
WHERE NOT EXISTS (SELECT 1 FROM roles WHERE lower(name) = 'admin');
{%- else %}

-- `UUID()` rather than `RANDOM_BYTES(16)`, which MariaDB before 10.10 lacks.
INSERT INTO roles (id, name, description, created_at)
SELECT UNHEX(REPLACE(UUID(), '-', '')), 'admin', 'Manages users and roles.', UTC_TIMESTAMP()
FROM DUAL
WHERE NOT EXISTS (SELECT 1 FROM roles WHERE name = 'admin');
{%- endif %}
