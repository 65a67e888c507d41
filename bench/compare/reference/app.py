"""A minimal litestar-users 2.0.1 app: the reference side of the comparison benchmark.

SQLite through aiosqlite, the session backend (litestar's server-side sessions, kept in the app's
default in-memory store), and the handlers register, login/logout and current user on their default
paths (`/register`, `/login`, `/logout`, `/users/me`). Password hashing is left at the package's
default (`hash_schemes=["argon2"]`, i.e. passlib's argon2 handler with its default parameters).

Settings come from the environment:
    REFERENCE_DB      path of the SQLite file (default `reference.db` in the current folder)
    REFERENCE_SECRET  the litestar-users secret, 16, 24 or 32 characters
    REFERENCE_ARGON2  unset (the default hashing), or `m=KiB,t=N,p=N` to hash and verify with
                      these Argon2id parameters instead; the benchmark uses it for a second run
                      with cargo-users' parameters, so that login figures compare equal work

Serve it with `uvicorn app:app`; the tables are created at start-up. Users are created with
`python manage.py create-users ...` (see manage.py), which uses the package's own service.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from advanced_alchemy.base import UUIDBase
from advanced_alchemy.extensions.litestar import (
    SQLAlchemyAsyncConfig,
    SQLAlchemyDTO,
    SQLAlchemyDTOConfig,
    SQLAlchemyInitPlugin,
)
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from litestar import Litestar
from litestar.dto import DataclassDTO
from litestar.middleware.session.server_side import ServerSideSessionConfig
from passlib.context import CryptContext

from litestar_users import LitestarUsersConfig, LitestarUsersPlugin
from litestar_users.config import (
    AuthHandlerConfig,
    CurrentUserHandlerConfig,
    RegisterHandlerConfig,
)
from litestar_users.mixins import SQLAlchemyUserMixin
from litestar_users.service import BaseUserService

DB_PATH = os.environ.get("REFERENCE_DB", "reference.db")
SECRET = os.environ.get("REFERENCE_SECRET", "0123456789abcdef0123456789abcdef")
ARGON2 = os.environ.get("REFERENCE_ARGON2", "")


def _matched_context(spec: str) -> CryptContext | None:
    """A passlib context for `m=KiB,t=N,p=N` (Argon2id), or None to keep the package default."""
    if not spec:
        return None
    params = dict(part.split("=") for part in spec.split(","))
    return CryptContext(
        schemes=["argon2"],
        deprecated="auto",
        argon2__type="ID",
        argon2__memory_cost=int(params["m"]),
        argon2__rounds=int(params["t"]),
        argon2__parallelism=int(params["p"]),
    )


# Built once: the service itself is created per request.
MATCHED_CONTEXT = _matched_context(ARGON2)


class User(UUIDBase, SQLAlchemyUserMixin):
    """The user table: id (UUID), email, password_hash, is_active, is_verified."""

    __tablename__ = "user"


@dataclass
class UserRegistration:
    """The body of `POST /register`."""

    email: str
    password: str


class UserRegistrationDTO(DataclassDTO[UserRegistration]):
    """Reads the registration body."""


class UserReadDTO(SQLAlchemyDTO[User]):
    """The user as the API shows it: never the hash."""

    config = SQLAlchemyDTOConfig(exclude={"password_hash", "created_at", "updated_at"})


class UserUpdateDTO(SQLAlchemyDTO[User]):
    """`PATCH /users/me` body (partial)."""

    config = SQLAlchemyDTOConfig(
        exclude={"id", "created_at", "updated_at", "is_active", "is_verified"}, partial=True
    )


class UserRepository(SQLAlchemyAsyncRepository[User]):
    model_type = User


class UserService(BaseUserService[User, None, None]):  # type: ignore[type-var]
    """The package's service with no hooks overridden (and, only with REFERENCE_ARGON2, other
    Argon2 parameters)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if MATCHED_CONTEXT is not None:
            self.password_manager.context = MATCHED_CONTEXT


sqlalchemy_config = SQLAlchemyAsyncConfig(
    connection_string=f"sqlite+aiosqlite:///{DB_PATH}",
    # Commit the request's session when the handler succeeded (registration, rehash on login).
    before_send_handler="autocommit",
    create_all=True,
)

users_config = LitestarUsersConfig(
    auth_config=ServerSideSessionConfig(),
    secret=SECRET,
    user_service_class=UserService,
    user_registration_dto=UserRegistrationDTO,
    user_read_dto=UserReadDTO,
    user_update_dto=UserUpdateDTO,
    user_repository_class=UserRepository,
    auth_handler_config=AuthHandlerConfig(),
    current_user_handler_config=CurrentUserHandlerConfig(),
    register_handler_config=RegisterHandlerConfig(),
)

app = Litestar(
    plugins=[SQLAlchemyInitPlugin(config=sqlalchemy_config), LitestarUsersPlugin(config=users_config)],
    # No OpenAPI schema routes: the benchmark does not need them.
    openapi_config=None,
)
