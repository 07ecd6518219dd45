"""Skip a service's routes at once when the request path cannot be one of them.

FastAPI (0.16x) matches a request against the app's included routers one after another,
and each included router against every route under it (a regular expression each, plus the
bookkeeping of its include context), without looking at prefixes. With a dozen service
routers, ``GET /api/v1/signals`` tried some forty routes before its own, twice over: a
third of an authenticated read's CPU time (benchmarks/http.py).

``PrefixedBranch`` is the router the gateway wraps each service router in. Before FastAPI
scans the routes under it, it checks that the path starts with the literal beginning
(the part before the first ``{``) of at least one of them; no route can match a path that
does not, in full or in part, so the answer is the same, only sooner. The check is a
string comparison per distinct literal beginning.

A path that is exactly one of the branch's route paths with no parameter (``/api/v1/signals``,
``/api/v1/users/me``) is tested in full once per method: once FastAPI has found a full match
for it, the branch gives that answer again without the scan. Such a match depends only on
the scope type, the method and the path (the routes' regular expressions and methods; a
``root_path`` is scanned as before), and FastAPI's included router keeps only the answer
from this test (it matches again, level by level, to handle the request). Only full matches
are kept, at most one per literal route path and method, so no request can grow the memo;
a branch with a route that is not a plain API route (a mount, a frontend, a WebSocket)
keeps none.

The literal beginnings are read from the branch's routes at its first request: routes added
to a service router after the server has begun serving would not be seen (none are). A
branch with a route that has no path (a ``Host``), or a request with a ``root_path``,
is scanned as before.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Match
from starlette.types import Scope


class PrefixedBranch(APIRouter):
    """An ``APIRouter`` whose ``matches`` refuses, without scanning, a path no route of it
    begins with. Include it at the app's top level with no prefix (the literal beginnings
    are its routes' own paths)."""

    def __init__(self) -> None:
        super().__init__()
        self._literal_prefixes: tuple[str, ...] | None = None
        self._always_scan = False
        # The literal route paths (no parameter) whose full matches are remembered, and the
        # child scope of each (method, path) that matched in full; empty without a memo.
        self._literal_paths: frozenset[str] = frozenset()
        self._full_matches: dict[tuple[str, str], Scope] = {}

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if not self._may_match(scope):
            return Match.NONE, {}
        path = scope.get("path")
        if (
            scope["type"] != "http"
            or path not in self._literal_paths
            or scope.get("root_path")
            or scope.get("path_params")
        ):
            return super().matches(scope)
        key = (scope["method"], path)
        remembered = self._full_matches.get(key)
        if remembered is not None:
            # A literal path has no parameters of its own: a fresh empty dict, as FastAPI's.
            return Match.FULL, {**remembered, "path_params": {}}
        match, child_scope = super().matches(scope)
        if match is Match.FULL:
            self._full_matches[key] = dict(child_scope)
        return match, child_scope

    def _may_match(self, scope: Scope) -> bool:
        if self._literal_prefixes is None:
            self._index()
        if self._always_scan or scope.get("root_path"):
            return True
        path: str = scope.get("path", "")
        return path.startswith(self._literal_prefixes or ())

    def _index(self) -> None:
        prefixes: set[str] = set()
        literal_paths: set[str] = set()
        only_api_routes = True
        for route in iter_route_contexts(self.routes):
            template = route.path
            only_api_routes = only_api_routes and isinstance(route.original_route, APIRoute)
            if not isinstance(template, str):
                self._always_scan = True
                continue
            prefixes.add(template.split("{", 1)[0])
            if "{" not in template:
                literal_paths.add(template)
        if only_api_routes and not self._always_scan:
            self._literal_paths = frozenset(literal_paths)
        # A prefix that another one begins with adds nothing to the test.
        self._literal_prefixes = tuple(
            sorted(p for p in prefixes if not any(p != q and p.startswith(q) for q in prefixes))
        )


def branch_of(router: APIRouter, *, prefix: str, tags: list[str]) -> PrefixedBranch:
    """Return ``router`` included, under ``prefix`` and ``tags``, in a new branch."""
    branch = PrefixedBranch()
    branch.include_router(router, prefix=prefix, tags=list(tags))
    return branch
