"""`smartpark users …` and `smartpark serve`."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from smartpark.api.security import ROLES, hash_password, new_secret
from smartpark.cli_common import engine_for, fail, settings_or_exit
from smartpark.errors import ConfigurationError, SmartparkError
from smartpark.storage.users import add_credential, create_user, user_by_name

users_app = typer.Typer(help="Users and API tokens.", no_args_is_help=True)


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="Login name")],
    park: Annotated[str, typer.Option(help="The park the user belongs to")],
    role: Annotated[str, typer.Option(help="viewer, operator or admin")] = "viewer",
    enterprise: Annotated[str | None, typer.Option(help="Limit the user to one enterprise")] = None,
    password: Annotated[str | None, typer.Option(help="Read from a prompt when omitted")] = None,
) -> None:
    """Create a user (the first admin of a park, for instance)."""
    settings = settings_or_exit()
    try:
        if role not in ROLES:
            raise ConfigurationError(f"--role must be one of {', '.join(ROLES)}, not {role!r}")
        secret = password or getpass.getpass(f"password for {username}: ")
        if len(secret) < 10:
            raise ConfigurationError("the password must have at least 10 characters")
        engine, _ = engine_for(settings)
        with engine.begin() as conn:
            if user_by_name(conn, username) is not None:
                raise ConfigurationError(f"user {username!r} exists already")
            values = {"username": username, "password_hash": hash_password(secret), "role": role}
            create_user(conn, values | {"park": park, "enterprise": enterprise})
    except SmartparkError as exc:
        raise fail(exc) from exc
    scope = f"enterprise {enterprise}" if enterprise else f"park {park}"
    typer.echo(f"created {role} {username} for {scope}")


@users_app.command("token")
def users_token(
    username: Annotated[str, typer.Argument(help="Whose token")],
    name: Annotated[str, typer.Option(help="What the token is for")] = "api",
) -> None:
    """Create an API token for a user; it is shown once."""
    settings = settings_or_exit()
    try:
        engine, _ = engine_for(settings)
        with engine.begin() as conn:
            user = user_by_name(conn, username)
            if user is None:
                raise ConfigurationError(f"no user {username!r}")
            secret, hashed = new_secret()
            add_credential(conn, user["id"], hashed, "token", name, None)
    except SmartparkError as exc:
        raise fail(exc) from exc
    typer.echo(secret)
