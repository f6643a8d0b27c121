"""The testing toolkit that the tests, the load test and the dev stack share.

- `testkit.cases`: synthetic cases (never real people), on the sandbox's phone numbers.
- `testkit.processes`: a child process a script may kill with SIGKILL and start again, its log in a file.
- `testkit.servers`: the Temporal binaries, the one dev-server starter and the test environments.
- `testkit.postgres`: PostgreSQL, embedded or any server, migrated by Alembic.
- `testkit.importcontracts`: the import-linter contract for the top-level modules (`lint-imports`).
"""
