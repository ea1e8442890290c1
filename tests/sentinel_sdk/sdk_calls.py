"""Sentinel's real Python SDK (sentinel-auth-sdk 0.20.1) against portcullis's Sentinel API.

Run by tests/sentinel_sdk.rs, which starts the service, sets up two workspaces, users, keys
and tokens, and passes them in the JSON file named by SCENARIO. Every RoleClient and
PermissionClient call is made as an application would make it; each answer is checked, and so
are the refusals: a denial, a missing key, a key of another service, a token bound to another
service, a token of another workspace, a non-owner's unshare and visibility change. The SDK's
own token check (JWTAuthMiddleware, proxy mode) verifies the tokens the service issued.

Prints one line per check passed; exits non-zero at the first that fails.
"""

import asyncio
import json
import os
import sys
import uuid

import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from sentinel_auth import SentinelError
from sentinel_auth.middleware import JWTAuthMiddleware
from sentinel_auth.permissions import PermissionCheck, PermissionClient
from sentinel_auth.roles import RoleClient

S = json.load(open(os.environ["SCENARIO"]))
BASE = S["base_url"]
KEY = S["keys"]["docs"]
OTHER_KEY = S["keys"]["billing"]
WS = uuid.UUID(S["workspace"])
OTHER_WS = uuid.UUID(S["other_workspace"])
USERS = {name: uuid.UUID(user["id"]) for name, user in S["users"].items()}
TOKENS = S["tokens"]
GROUP = uuid.UUID(S["group"])

passed = 0


def ok(what):
    global passed
    passed += 1
    print(f"ok {passed} {what}", flush=True)


async def refused(status, call, what):
    try:
        await call
    except SentinelError as error:
        assert error.status_code == status, f"{what}: {error.status_code}, wanted {status}"
        ok(f"{what} -> {status}")
        return
    raise AssertionError(f"{what}: no error, wanted {status}")


async def roles():
    client = RoleClient(BASE, "docs", KEY)
    registered = await client.register_actions(
        [
            {"action": "documents:export", "description": "Export a document"},
            {"action": "documents:purge", "description": None},
        ]
    )
    assert isinstance(registered, list), registered
    assert sorted(r["action"] for r in registered) == ["documents:export", "documents:purge"]
    assert all(r["service_name"] == "docs" for r in registered)
    ok("register_actions")
    assert await client.check_action(TOKENS["bob"], "documents:export", WS) is True
    ok("check_action allows a role's action")
    assert await client.check_action(TOKENS["cy"], "documents:export", WS) is False
    ok("check_action denies without the role")
    assert await client.get_user_actions(TOKENS["bob"], WS) == ["documents:export"]
    assert await client.get_user_actions(TOKENS["cy"], WS) == []
    ok("get_user_actions")
    await refused(403, client.check_action(TOKENS["bob"], "documents:export", OTHER_WS),
                  "check_action in another workspace than the token's")
    await refused(403, RoleClient(BASE, "docs", OTHER_KEY).check_action(
        TOKENS["bob"], "documents:export", WS), "check_action with another service's key")
    await refused(401, RoleClient(BASE, "docs").check_action(
        TOKENS["bob"], "documents:export", WS), "check_action without a key")
    await refused(422, client.register_actions([{"action": "Not An Action"}]),
                  "register_actions with a malformed name")


async def permissions():
    docs = PermissionClient(BASE, "docs", KEY, cache_ttl=60)
    doc, other_doc, folder_doc = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    ada, bob, cy, dan = (TOKENS[n] for n in ("ada", "bob", "cy", "dan"))

    record = await docs.register_resource("document", doc, WS, USERS["ada"], "private")
    assert record["owner_id"] == str(USERS["ada"]) and record["visibility"] == "private"
    assert record["workspace_id"] == str(WS) and record["shares"] == []
    ok("register_resource")
    again = await docs.register_resource("document", doc, WS, USERS["ada"], "private")
    assert again["id"] == record["id"]
    ok("register_resource again is the same record")
    await refused(409, docs.register_resource("document", doc, WS, USERS["bob"]),
                  "register_resource for another owner")

    assert await docs.can(bob, "document", doc, "view") is False
    ok("can: a private document is not Bob's (and the SDK caches the answer)")
    assert await docs.share(ada, "document", doc, "user", USERS["bob"], "view") == {"status": "ok"}
    ok("share")
    assert await docs.can(bob, "document", doc, "view") is True
    ok("can after share: the share cleared the SDK's cache")
    assert await docs.can(bob, "document", doc, "edit") is False
    await docs.share(ada, "document", doc, "user", USERS["bob"], "edit")
    assert await docs.can(bob, "document", doc, "edit") is True
    ok("sharing again updates the level")

    results = await docs.check(bob, [
        PermissionCheck("docs", "document", doc, "edit"),
        PermissionCheck("docs", "document", other_doc, "view"),
    ])
    assert [r.allowed for r in results] == [True, False], results
    assert results[0].resource_id == doc and results[1].resource_id == other_doc
    ok("check: a batch, an unregistered resource denied")
    await refused(422, docs.check(bob, [PermissionCheck("docs", "document", doc, "own")]),
                  "check with an unknown action")
    await refused(422, docs.check(bob, [PermissionCheck("docs", "document", doc, "view")] * 101),
                  "check with more than 100 items")
    await refused(403, docs.check(bob, [PermissionCheck("billing", "invoice", doc, "view")]),
                  "check of another service's resource")

    ids, full = await docs.accessible(bob, "document", "view", WS)
    assert ids == [doc] and full is False, (ids, full)
    ok("accessible")
    ids, full = await docs.accessible(ada, "document", "edit", WS, limit=10)
    assert full is True, (ids, full)
    ok("accessible: the workspace owner has full access")
    await refused(403, docs.accessible(dan, "document", "view", WS),
                  "accessible in another workspace than the token's")

    acl = await docs.get_resource_acl("document", doc)
    assert [(s["grantee_type"], s["grantee_id"], s["permission"]) for s in acl["shares"]] == [
        ("user", str(USERS["bob"]), "edit")]
    assert acl["shares"][0]["granted_by"] == str(USERS["ada"])
    ok("get_resource_acl")
    enriched = await docs.get_enriched_resource_acl("document", doc)
    assert enriched["owner_email"] == S["users"]["ada"]["email"]
    assert enriched["shares"][0]["grantee_email"] == S["users"]["bob"]["email"]
    ok("get_enriched_resource_acl")

    assert await docs.can(cy, "document", doc, "view") is False
    await refused(403, docs.update_visibility(bob, "document", doc, "workspace"),
                  "update_visibility by a grantee who is not the owner")
    await refused(403, docs.unshare(bob, "document", doc, "user", USERS["bob"]),
                  "unshare by a grantee who is not the owner")
    # One who may not even view the document is not told it exists.
    await refused(404, docs.unshare(cy, "document", doc, "user", USERS["bob"]),
                  "unshare by a member who cannot view it")
    assert await docs.can(bob, "document", doc, "edit") is True
    ok("the refused unshare changed nothing")
    changed = await docs.update_visibility(ada, "document", doc, "workspace")
    assert changed["visibility"] == "workspace"
    assert await docs.can(cy, "document", doc, "view") is True
    assert await docs.can(cy, "document", doc, "edit") is False
    ok("update_visibility: a viewer of the workspace sees it, cannot edit it")
    assert await docs.can(dan, "document", doc, "view") is False
    ok("can: a token of another workspace is denied")

    assert await docs.unshare(ada, "document", doc, "user", USERS["bob"]) == {"status": "ok"}
    assert await docs.can(bob, "document", doc, "edit") is True
    ok("unshare: Bob, an editor, still edits what the workspace may view")
    await docs.update_visibility(ada, "document", doc, "private")
    assert await docs.can(bob, "document", doc, "view") is False
    ok("unshare and private: Bob is out")

    await docs.register_resource("document", folder_doc, WS, USERS["ada"], "private")
    await docs.share(ada, "document", folder_doc, "group", GROUP, "view")
    assert await docs.can(bob, "document", folder_doc, "view") is True
    assert await docs.can(cy, "document", folder_doc, "view") is False
    ok("a group share reaches the group's members only")

    members = await docs.search_workspace_members(ada, WS)
    assert sorted((m["email"], m["role"]) for m in members) == sorted([
        (S["users"]["ada"]["email"], "owner"),
        (S["users"]["bob"]["email"], "editor"),
        (S["users"]["cy"]["email"], "viewer"),
    ]), members
    ok("search_workspace_members")
    found = await docs.search_workspace_members(ada, WS, query="bob", limit=5)
    assert [m["user_id"] for m in found] == [str(USERS["bob"])], found
    ok("search_workspace_members with a query")
    groups = await docs.list_groups(ada, WS)
    assert [g["id"] for g in groups] == [str(GROUP)], groups
    ok("list_groups")
    group_members = await docs.get_group_members(ada, WS, GROUP)
    assert [m["user_id"] for m in group_members] == [str(USERS["bob"])], group_members
    ok("get_group_members")
    await refused(403, docs.search_workspace_members(dan, WS),
                  "search_workspace_members of another workspace")

    assert await docs.deregister_resource("document", doc) is None
    await refused(404, docs.get_resource_acl("document", doc), "get_resource_acl after deregister")
    await refused(404, docs.share(ada, "document", doc, "user", USERS["bob"]),
                  "share of a deregistered resource")
    assert await docs.can(bob, "document", doc, "view") is False
    ok("deregister_resource")

    keyless = PermissionClient(BASE, "docs")
    await refused(401, keyless.can(bob, "document", folder_doc, "view"), "can without a key")
    wrong = PermissionClient(BASE, "docs", "sk_" + "x" * 60)
    await refused(401, wrong.can(bob, "document", folder_doc, "view"), "can with a made-up key")
    scoped = PermissionClient(BASE, "docs", OTHER_KEY)
    await refused(403, scoped.register_resource("document", uuid.uuid4(), WS, USERS["ada"]),
                  "register_resource with another service's key")
    await refused(403, scoped.get_resource_acl("document", folder_doc),
                  "get_resource_acl with another service's key")
    await refused(403, docs.can(TOKENS["bob_for_billing"], "document", folder_doc, "view"),
                  "a token bound to another service")
    await refused(401, docs.can(TOKENS["bob"] + "x", "document", folder_doc, "view"),
                  "a token with a broken signature")

    async with httpx.AsyncClient(base_url=BASE) as http:
        whoami = (await http.get("/realm/whoami", headers={"X-Service-Key": KEY})).json()
        assert whoami == {"service_name": "docs", "effective_scope": "docs", "realm": None}
    ok("whoami")


async def middleware():
    """The SDK's own check of access tokens (proxy mode): keys fetched from our JWKS."""

    async def me(request):
        user = request.state.user
        return JSONResponse({"user": str(user.user_id), "workspace": str(user.workspace_id),
                             "role": user.workspace_role})

    app = Starlette(routes=[Route("/me", me)])
    app.add_middleware(JWTAuthMiddleware, base_url=BASE)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        answer = await http.get("/me", headers={"Authorization": f"Bearer {TOKENS['bob']}"})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"user": str(USERS["bob"]), "workspace": str(WS),
                                 "role": "editor"}, answer.json()
        ok("JWTAuthMiddleware verifies the service's token with its JWKS")
        forged = TOKENS["bob"][:-4] + ("AAAA" if not TOKENS["bob"].endswith("AAAA") else "BBBB")
        answer = await http.get("/me", headers={"Authorization": f"Bearer {forged}"})
        assert answer.status_code == 401, answer.status_code
        ok("JWTAuthMiddleware refuses a forged signature")


async def main():
    await roles()
    await permissions()
    await middleware()
    print(f"passed {passed}", flush=True)


asyncio.run(main())
