"""``catmatch acls``: the ACLs of each client role (:mod:`transport.acls`), printed or applied,
and the SCRAM users they belong to."""

from __future__ import annotations

import argparse
import os
import sys

import yaml

from catmatch.errors import UserError
from catmatch.options import Subparsers, add_actions, add_command, add_connect_timeout
from core.settings import Settings
from transport.acls import (
    ROLES,
    PipelineNames,
    Role,
    apply_grants,
    markdown_table,
    principal_of,
    revoke_grants,
    role_grants,
    strimzi_acls,
    text_table,
)
from transport.configuration import admin_config
from transport.users import delete_scram_user, upsert_scram_user

PASSWORD_ENV = "CATMATCH_NEW_PASSWORD"  # noqa: S105 - the name of a variable


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "acls",
        "print or apply the ACLs each client role needs; add SCRAM users",
        "Least privilege per role, from the settings' topic names and group id: worker "
        "(consume the input, produce results and dead letters; transactional ids with "
        "worker.processing_guarantee=exactly_once), producer (write the input), operator "
        "(status, topics describe, dlq stats and replay), keda (the lag scaler) and topics "
        "(create the pipeline topics). apply/revoke/user need a principal allowed to alter "
        "the cluster (the super user of `catmatch broker --security`).",
    )
    sub = add_actions(parser, "acls_command")

    show = add_command(sub, "print", "print a role's ACLs (no cluster needed)")
    _role_options(show, principal_required=False)
    show.add_argument("--format", choices=("table", "strimzi", "markdown"), default="table",
                      help="table (default), a Strimzi KafkaUser's spec.authorization, or "
                      "the Markdown table of docs/SECURITY.md")
    show.set_defaults(func=run)

    for name, help_text in (("apply", "create a role's ACLs for a principal"),
                            ("revoke", "delete a role's ACLs of a principal")):
        action = add_command(sub, name, help_text, help_text)
        _role_options(action, principal_required=True)
        add_connect_timeout(action)
        action.set_defaults(func=run)

    user = add_command(
        sub, "user",
        "create a SCRAM-SHA-512 user or set its password (--delete: remove it)",
        f"Create user NAME, or rotate its password, with the password from ${PASSWORD_ENV} "
        "(never from the command line, which other local users can read); --delete removes "
        "its credential, so it can no longer log in.",
    )
    user.add_argument("name")
    user.add_argument("--delete", action="store_true", help="delete the user's credential")
    add_connect_timeout(user)
    user.set_defaults(func=run)


def _role_options(parser: argparse.ArgumentParser, *, principal_required: bool) -> None:
    parser.add_argument("--role", required=True, choices=(*ROLES, "all"),
                        help="the client role (all: every role, print only)")
    parser.add_argument("--principal", required=principal_required,
                        help="User:<name> (or just the name)"
                        + ("" if principal_required else "; default User:<role>"))


def _roles(args: argparse.Namespace) -> list[Role]:
    if args.role == "all":
        if args.acls_command != "print":
            raise UserError("--role all is for print only: apply one role per principal")
        return list(ROLES)
    role: Role = args.role
    return [role]


def run(args: argparse.Namespace, settings: Settings) -> int:
    names = PipelineNames.from_settings(settings)
    action = args.acls_command
    if action == "user":
        return _user(args, settings)
    roles = _roles(args)
    if action == "print":
        if args.format == "markdown":
            print(markdown_table(roles, names))
            return 0
        for role in roles:
            principal = principal_of(args.principal or role)
            grants = role_grants(role, names)
            if args.format == "strimzi":
                spec = {"authorization": {"type": "simple", "acls": strimzi_acls(grants)}}
                print(f"# role {role}")
                print(yaml.safe_dump(spec, sort_keys=False).rstrip())
            else:
                print(text_table(grants, principal))
        return 0
    role = roles[0]
    principal = principal_of(args.principal)
    grants = role_grants(role, names)
    conf = admin_config(settings.kafka)
    if action == "apply":
        count = apply_grants(conf, grants, principal, timeout=args.timeout)
        print(f"{principal}: {count} ACLs of role {role} applied")
    else:
        count = revoke_grants(conf, grants, principal, timeout=args.timeout)
        print(f"{principal}: {count} ACLs of role {role} deleted")
    return 0


def _user(args: argparse.Namespace, settings: Settings) -> int:
    conf = admin_config(settings.kafka)
    if args.delete:
        delete_scram_user(conf, args.name, timeout=args.timeout)
        print(f"user {args.name}: SCRAM-SHA-512 credential deleted")
        return 0
    password = os.environ.get(PASSWORD_ENV, "")
    if not password:
        raise UserError(f"set ${PASSWORD_ENV} to the user's password")
    upsert_scram_user(conf, args.name, password, timeout=args.timeout)
    print(f"user {args.name}: SCRAM-SHA-512 credential set", file=sys.stderr)
    return 0
