"""Where audits land besides their own reports: experiment trackers (:mod:`fairaudit.integrations.mlflow`)."""
