DROP INDEX job_attempts_finished_idx;
DROP TABLE console_login_failures;
DROP TABLE console_sessions;
DROP TABLE console_operators;
