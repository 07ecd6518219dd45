"""A lean read's statement on PostgreSQL as one call: the tenant set and the rows read in one
round trip.

For each ``ReadStatement`` a connection runs, the lean read creates (once per connection,
at its first use there) a temporary PL/pgSQL function in the session's own ``pg_temp``
schema. The function takes the statement's parameters followed by the tenant id and the
bypass flag, and runs, in this order (PL/pgSQL runs a function's statements one after the
other, each seeing the effects of the ones before):

1. ``set_config('transaction_read_only', 'on', true)``: the call's transaction is read-only;
2. ``set_config('app.tenant_id', <tenant>, true)`` when there is a tenant, and
   ``set_config('app.rls_bypass', 'on', true)`` for a system read;
3. ``RETURN QUERY <the statement>``: the RLS policies read the settings of step 2.

The call runs outside any explicit transaction, in the implicit transaction of its own
extended-protocol message (asyncpg's Bind/Execute/Sync), so the transaction-local settings
end with that one call: no BEGIN and no ROLLBACK, one round trip per statement instead of
three (benchmarks/http.py: about half the driver's CPU per read). asyncpg prepares the call
once per connection as it prepared the statement.

The function is ``SECURITY INVOKER`` (the default): the statement runs with the caller's
role and its RLS policies. Its body is the statement the application compiled, never text
from a request; a function name is derived from that text, so equal statements share it.
Creating it needs the ``TEMPORARY`` privilege on the database (PostgreSQL grants it to
every role by default); on a connection where creation fails, ``function_call`` returns
``None`` and the lean read uses its transaction instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import MutableMapping, Sequence
from typing import Any

from chainflow.core.logging import get_logger

log = get_logger("chainflow.storage.relational")

# Per connection (the pool record's ``info``, which lives as long as the connection): the
# call SQL of each statement's function, or ``None`` once creation failed there.
_CALLS_KEY = "chainflow.lean_read.calls"
_UNAVAILABLE_KEY = "chainflow.lean_read.no_functions"
_BODY_QUOTE = "$chainflow_lean_read$"
_TYPE_NAMES_SQL = (
    "SELECT format_type(t.oid, NULL) FROM unnest($1::oid[]) WITH ORDINALITY AS t(oid, n) "
    "ORDER BY t.n"
)


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _column_names(names: Sequence[str]) -> list[str]:
    """Return ``names`` made unique (``?column?`` twice becomes ``?column?``, ``?column?_2``)."""
    seen: set[str] = set()
    unique = []
    for position, name in enumerate(names, start=1):
        candidate = name if name not in seen else f"{name}_{position}"
        seen.add(candidate)
        unique.append(candidate)
    return unique


def function_name(sql: str) -> str:
    """Return the temporary function's name for the statement ``sql``."""
    return "chainflow_lean_read_" + hashlib.sha256(sql.encode()).hexdigest()[:24]


def _definition(
    sql: str, name: str, parameter_types: Sequence[str], columns: Sequence[tuple[str, str]]
) -> str:
    count = len(parameter_types)
    tenant, bypass = f"${count + 1}", f"${count + 2}"
    arguments = ", ".join([*parameter_types, "text", "boolean"])
    returns = ", ".join(f"{_identifier(column)} {type_name}" for column, type_name in columns)
    return (
        f"CREATE OR REPLACE FUNCTION pg_temp.{name}({arguments}) RETURNS TABLE({returns}) "
        f"LANGUAGE plpgsql AS {_BODY_QUOTE}\n"
        "#variable_conflict use_column\n"
        "BEGIN\n"
        "  PERFORM set_config('transaction_read_only', 'on', true);\n"
        f"  IF {tenant} IS NOT NULL THEN\n"
        f"    PERFORM set_config('app.tenant_id', {tenant}, true);\n"
        "  END IF;\n"
        f"  IF {bypass} THEN\n"
        "    PERFORM set_config('app.rls_bypass', 'on', true);\n"
        "  END IF;\n"
        f"  RETURN QUERY {sql};\n"
        f"END\n{_BODY_QUOTE}"
    )


async def function_call(driver: Any, info: MutableMapping[str, Any], sql: str) -> str | None:
    """Return the SQL that calls ``sql``'s function on this connection, creating the function
    at the first call here; ``None`` when this connection cannot create it.

    The call takes the statement's parameters, then the tenant id (text or NULL) and the
    bypass flag. A statement that does not prepare (a missing table) raises as it would
    when run; only the creation of the function falls back.
    """
    calls: dict[str, str] = info.setdefault(_CALLS_KEY, {})
    call = calls.get(sql)
    if call is not None:
        return call
    if info.get(_UNAVAILABLE_KEY) or _BODY_QUOTE in sql:
        return None
    prepared = await driver.prepare(sql)
    parameters = prepared.get_parameters()
    attributes = prepared.get_attributes()
    import asyncpg  # the PostgreSQL extra; only a PostgreSQL lean read comes here

    try:
        oids = [t.oid for t in parameters] + [a.type.oid for a in attributes]
        type_names = [row[0] for row in await driver.fetch(_TYPE_NAMES_SQL, oids)]
        parameter_types = type_names[: len(parameters)]
        columns = list(
            zip(
                _column_names([a.name for a in attributes]),
                type_names[len(parameters) :],
                strict=True,
            )
        )
        name = function_name(sql)
        await driver.execute(_definition(sql, name, parameter_types, columns))
    except asyncpg.PostgresError as e:
        info[_UNAVAILABLE_KEY] = True
        log.warning(
            "lean_read_functions_unavailable",
            error=type(e).__name__,
            hint="grant TEMPORARY on the database to save two round trips per lean read",
        )
        return None
    placeholders = ", ".join(f"${i}" for i in range(1, len(parameters) + 3))
    call = f"SELECT * FROM pg_temp.{name}({placeholders})"
    calls[sql] = call
    return call
