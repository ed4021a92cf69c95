"""The store: models, migrations, outbox and audit log.

Every model module is imported here, so all tables are in ``Base.metadata`` wherever the store
is used (migrations, the schema check, tests), whichever module a caller imports first.
"""

from store import followup as followup  # Inadequate follow-up and the assurance sample
from store import meetings as meetings  # reflection meetings and sheets
from store import records as records  # registers the audit record's tables
