"""The API's test application (an inline scan dispatcher over a fake image source), whose
console these tests drive without a browser."""

from tests.unit.api.conftest import admin, client, dispatcher, engine  # noqa: F401
