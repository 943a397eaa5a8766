DROP TABLE cron_ticks;
DROP TABLE cron_schedules;
DROP TABLE workflow_step_dependencies;
DROP TABLE workflow_steps;
DROP TABLE job_attempts;
DROP INDEX forecasts_job_idx;
ALTER TABLE forecasts DROP CONSTRAINT forecasts_job_fkey;
DROP TABLE jobs;
DROP TABLE workflow_runs;
