-- The admin console: who may sign in, their sessions, and the failed sign-ins that slow the
-- next attempt down. None of these tables belongs to a tenant: the console shows the whole
-- deployment, so only the system role (the console's path) reads or writes them.

-- The deployment's operators. Signing in also needs the user to be an enabled `admin`; an admin
-- of a tenant is not an operator of the deployment unless granted here (by `findash seed --demo`
-- for ADMIN_EMAIL). A table of its own rather than a column of `users`, which tenants may write.
CREATE TABLE console_operators (
    user_id UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    granted_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    granted_by TEXT NOT NULL CHECK (granted_by <> '')
);
GRANT SELECT, INSERT, DELETE ON console_operators TO findash_system;

-- A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so a read of
-- this table cannot be replayed as a session. The CSRF token is per session.
CREATE TABLE console_sessions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL CHECK (length(csrf_token) >= 32),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    client_ip TEXT,
    user_agent TEXT,
    CHECK (expires_at > created_at)
);
CREATE INDEX console_sessions_user_idx ON console_sessions (user_id);
CREATE INDEX console_sessions_expires_idx ON console_sessions (expires_at);
GRANT SELECT, INSERT, UPDATE (last_seen_at), DELETE ON console_sessions TO findash_system;

-- Sign-in attempts per email from one client address (`pair:<email>|<address>`), per address
-- (`ip:<address>`, IPv6 by its /64) and per email (`email:<email>`). An attempt is counted before
-- its password is checked; a success deletes its pair's row and takes the attempt back from the
-- others. Rows older than an hour are forgotten, and deleted as new attempts come in.
CREATE TABLE console_login_failures (
    key TEXT PRIMARY KEY CHECK (key ~ '^(pair|ip|email):.'),
    failures INTEGER NOT NULL CHECK (failures > 0),
    last_failed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX console_login_failures_last_failed_idx ON console_login_failures (last_failed_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON console_login_failures TO findash_system;
