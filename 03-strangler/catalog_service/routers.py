"""Which database the catalog service's models use: always its own ("default").

The "monolith" alias is the monolith's database, there only for `copy_catalog` to read the
legacy rows with plain SQL. No model of this project lives there and nothing migrates it:
the monolith owns that schema, and this service must never write to it.
"""

from typing import Any


class CatalogRouter:
    def db_for_read(self, model: Any, **hints: Any) -> str:
        return "default"

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return "default"

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == "default"
