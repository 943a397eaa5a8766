SELECT floor(extract(epoch FROM finished_at - (now() - interval '1 hour')) / 60)::bigint AS bucket,
       count(*) FILTER (WHERE outcome = ANY ('{succeeded,blocked}')) AS processed,
       count(*) FILTER (WHERE outcome = ANY ('{failed,timed_out,panicked,lease_expired}')) AS failed
FROM job_attempts WHERE finished_at >= now() - interval '1 hour' AND finished_at < now() GROUP BY 1;
