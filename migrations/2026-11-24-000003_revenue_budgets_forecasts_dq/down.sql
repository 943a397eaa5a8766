DROP TABLE dq_findings;
DROP TABLE forecast_points;
DROP TABLE forecasts;
DROP TABLE budgets;
DROP TABLE revenue_events;
