"""Secrets: write-only values, listed by name."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from .common import RequestBody, Resource, UtcDateTime

SECRET_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
SECRET_NAME_MAX = 200
SECRET_VALUE_MAX = 64 * 1024


class _SecretValue(RequestBody):
    # SecretStr keeps the value out of reprs, tracebacks and logs.
    value: SecretStr = Field(
        max_length=SECRET_VALUE_MAX, description="Write-only: no response ever contains it."
    )

    @field_validator("value")
    @classmethod
    def _encodable(cls, value: SecretStr) -> SecretStr:
        # The value is sealed as UTF-8; a lone surrogate has no UTF-8 form.
        try:
            value.get_secret_value().encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode (it holds a lone surrogate)") from None
        return value


class SecretCreate(_SecretValue):
    name: str = Field(
        min_length=1,
        max_length=SECRET_NAME_MAX,
        pattern=SECRET_NAME_PATTERN,
        description="Letters, digits and `_`, not starting with a digit; expressions read "
        "the value as `{{ secrets.NAME }}`.",
        examples=["STRIPE_KEY"],
    )


class SecretUpdate(_SecretValue):
    pass


class SecretPublic(Resource):
    """A secret's name and times; its value is never returned."""

    id: str
    project_id: str
    name: str
    created_at: UtcDateTime
    updated_at: UtcDateTime
