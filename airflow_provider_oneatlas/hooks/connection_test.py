"""The connection form's Test button, across Airflow versions.

The UI never receives a stored password: it shows, and posts back, the mask ``***``. What the API
server does with that mask when the Test button is pressed changed between versions:

- 3.0 tests exactly what the form posts: the hook would get ``***`` as the API key.
- 3.1 and 3.2 merge the posted fields into the stored connection, so the stored key is used, even
  when the host (our Base URL) was changed: the stored key is sent to the new address.
- 3.3 refuses that case before any hook runs ("The host or port to test differs from the stored
  connection. Include the credentials to test in the request body."): a changed Base URL is tested
  only with the API key typed again. The form labels the field "Base URL (host, optional)" so that
  message names a field the user can see, and the API key's placeholder says to type it again.

So the hook refuses a masked key with a message saying what to do, rather than sending ``***`` to
the authentication service and reporting a misleading "wrong key".
"""

from __future__ import annotations

#: What Airflow's UI and API show, and post back, in place of a stored password.
MASKED_VALUE = "***"

MASKED_API_KEY_MESSAGE = (
    "The API key field holds the mask '***', not a key: Airflow did not pass the stored key to this "
    "test. Type the API key again in the API key field, then press Test."
)


def is_masked_api_key(password: str | None) -> bool:
    """Whether the connection's API key is Airflow's mask for a stored secret, not a key."""
    return (password or "").strip() == MASKED_VALUE
