"""The loading role's grants as one run knows them, for its streams' tables.

Read once at start-up (preflight), extended by what the run creates (it owns that), and read
again once when a check fails: another run of the role may have created a table since.
"""

from __future__ import annotations

from collections.abc import Callable

from target_snowflake_finance.connector import Session
from target_snowflake_finance.errors import TargetConfigError
from target_snowflake_finance.naming import quote
from target_snowflake_finance.privileges import Need, RoleGrants


class RunGrants:
    """The role's grants in the target schema (None: they could not be read; loads will tell)."""

    def __init__(
        self, grants: RoleGrants | None, control: Session, database: str, schema: str
    ) -> None:
        self.grants = grants
        self._control = control
        self._database, self._schema = database, schema

    @property
    def role_name(self) -> str:
        return self.grants.role if self.grants else "(the connecting role)"

    def own(self, kind: str, *parts: str) -> None:
        """The run created this object: its role owns it."""
        if self.grants is not None:
            self.grants.own(kind, parts)

    def table_created(self, table: str) -> None:
        """The role created this table in this run: it owns it."""
        self.own("TABLE", self._database, self._schema, table)

    def require_table(self, table: str, privileges: tuple[str, ...], stream: str) -> None:
        """Fail before any data moves when the role lacks a privilege on a stream's table."""
        need = Need(privileges, "TABLE", (self._database, self._schema, table))
        if not self._holds(lambda grants: not grants.missing([need]), unknown=False):
            # `_holds` is False only with grants read: the last reading names what is missing.
            assert self.grants is not None
            missing = self.grants.missing([need])
            ref = ".".join(quote(p) for p in (self._database, self._schema, table))
            raise TargetConfigError(
                f"role {self.role_name} cannot load stream {stream!r} into "
                f"{ref}: {' '.join(missing)} (run it as the table's owner or "
                "SECURITYADMIN)"
            )

    def owns_table(self, table: str) -> bool:
        """Whether the role owns a table (True when its grants could not be read: try it)."""
        parts = (self._database, self._schema, table)
        return self._holds(lambda grants: grants.has("OWNERSHIP", "TABLE", parts), unknown=True)

    def _holds(self, test: Callable[[RoleGrants], bool], *, unknown: bool) -> bool:
        """Whether `test` passes on the role's grants, read again once if it fails.

        True when the grants could not be read at start-up (the load itself will tell);
        `unknown` when they cannot be read again.
        """
        if self.grants is None or test(self.grants):
            return True
        if not self._refresh():
            return unknown
        return test(self.grants)

    def _refresh(self) -> bool:
        """Read the grants again: another run of this role may have created a table since."""
        if self.grants is None:
            return False
        fresh = RoleGrants.load(self._control, self.grants.role)
        if fresh is None:
            return False
        fresh.owned |= self.grants.owned
        self.grants = fresh
        return True
