"""Business intelligence for superadmins: revenue, tenant movements, cohorts, conversion and
usage per tier, computed from billing's history and the monthly usage rollup."""
