-- Auto expectations learn their job's period from the agent: at the first heartbeat after a run finished,
-- period = nextRunAt − last finish (daily, hourly and weekly jobs each get their own deadline instead of a
-- one-size default). Learned once per finished run, so a scheduler that keeps postponing cannot push it.
ALTER TABLE expectations ADD COLUMN learned_for INTEGER;
