"""Bulk user creation and hashing facts for the reference app (the benchmark's set-up step).

    python manage.py create-users --prefix bench --count 200 --password P
        creates bench0@example.com ... bench199@example.com, active and verified, through the
        package's own service (`BaseUserService.add_user`) and password manager. The password is
        hashed once and that hash stored for every account: a login costs one verification either
        way, and hashing 200 times at the default cost would only slow the set-up down.

    python manage.py hash-info
        prints the scheme and its parameters (the package default, or REFERENCE_ARGON2's), read
        from a real hash, and how long that one hash took.

The single main user is created with the package's CLI instead
(`litestar --app app:app users create-user ...`).
"""

from __future__ import annotations

import argparse
import time

import anyio

from app import User, app
from litestar_users.password import PasswordManager
from litestar_users.utils import async_session, get_user_service


async def create_users(prefix: str, count: int, password: str) -> None:
    # Make sure the tables exist even when the server has not started yet.
    from app import sqlalchemy_config

    engine = sqlalchemy_config.get_engine()
    async with engine.begin() as conn:
        await conn.run_sync(User.metadata.create_all)
    async with async_session(app) as session:
        service = get_user_service(app, session)
        password_hash = service.password_manager.hash(password)
        for index in range(count):
            await service.add_user(
                User(email=f"{prefix}{index}@example.com", password_hash=password_hash),
                verify=True,
                activate=True,
            )
        await session.commit()
    print(f"created {count} users {prefix}0..{prefix}{count - 1}@example.com")


def hash_info() -> None:
    from app import MATCHED_CONTEXT

    manager = PasswordManager()
    if MATCHED_CONTEXT is not None:
        manager.context = MATCHED_CONTEXT
    start = time.perf_counter()
    sample = manager.hash("correct horse battery staple")
    elapsed = time.perf_counter() - start
    handler = manager.context.handler()
    # e.g. $argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>
    params = "$".join(sample.split("$")[:4])
    print(f"scheme={handler.name} backend={handler.get_backend()} params={params} one_hash_ms={elapsed * 1000:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-users")
    create.add_argument("--prefix", required=True)
    create.add_argument("--count", type=int, required=True)
    create.add_argument("--password", required=True)
    sub.add_parser("hash-info")
    args = parser.parse_args()
    if args.command == "create-users":
        anyio.run(create_users, args.prefix, args.count, args.password)
    else:
        hash_info()


if __name__ == "__main__":
    main()
